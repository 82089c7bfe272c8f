"""One construct per capability; ``infra/pipeline.py`` (``CustomLabelsPipeline``) composes them."""

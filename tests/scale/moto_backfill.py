"""Test-only adaptations that let moto's Step Functions interpreter run the REAL backfill definition.

The deployed definition is never changed; these functions rewrite a *copy* for moto, and each
rewrite names the moto gap it bridges (tests/scale/test_backfill_definition.py checks the real file):

* ``ItemBatcher`` — moto 5.2's ASL parser rejects it. :func:`moto_backfill_definition` removes it and
  wraps the ``ItemSelector`` so every child execution still receives the batch shape AWS gives it,
  ``{"Items": [<selected item>], "BatchInput": <BatchInput>}`` (a batch of one). The child states —
  the skip check, the message bodies, the SendMessageBatch call — run unchanged.
* ``ExecutionType: EXPRESS`` children — moto's parser accepts only ``STANDARD``; the transform
  switches the copy to STANDARD (children then run with standard semantics, which is stricter).
* ``ResultWriter`` — moto's parser rejects it in a JSONata state (and would only write a manifest);
  the copy drops it, so the Map's result is the children's outputs, which tests then read.
* ``s3:listObjectsV2`` as ItemReader — moto returns the first page only (1,000 keys) in boto3's shape
  (``ETag``, ``LastModified`` a datetime); AWS's ItemReader pages through the whole prefix and gives
  items as ``{"Etag", "Key", "LastModified" (epoch seconds), "Size", "StorageClass"}``.
  :func:`paginate_moto_item_reader` makes moto's reader do both.
* ``aws-sdk:sfn:startExecution`` — moto hands the ASL's PascalCase arguments (``StateMachineArn``,
  ``Input``, as AWS documents them) to boto3 unchanged, and the Step Functions botocore model names them
  ``stateMachineArn`` / ``input``; the copy renames the two keys, and reads moto's ``executionArn``
  where AWS returns ``ExecutionArn``.
* aws-sdk error names — moto spells the service in lower case (``localrun.moto_adapt.moto_definition``).
"""

from __future__ import annotations

import json
from typing import Any

from localrun.moto_adapt import moto_definition


def moto_backfill_definition(definition: str) -> str:
    """A copy of the substituted backfill definition that moto accepts (see the module docstring)."""
    document: dict[str, Any] = json.loads(definition)
    backfill = document["States"]["Backfill"]
    batcher = backfill.pop("ItemBatcher")
    backfill["ItemSelector"] = {"Items": [backfill["ItemSelector"]], "BatchInput": batcher["BatchInput"]}
    backfill["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    del backfill["ResultWriter"]
    arguments = document["States"]["StartController"]["Arguments"]
    document["States"]["StartController"]["Arguments"] = {
        "stateMachineArn": arguments["StateMachineArn"],
        "input": arguments["Input"],
    }
    assign = document["States"]["StartController"]["Assign"]
    assign["controller_execution_arn"] = assign["controller_execution_arn"].replace("ExecutionArn", "executionArn")
    return moto_definition(json.dumps(document)).replace('"Sfn.', '"sfn.')


def paginate_moto_item_reader() -> None:
    """Make moto's ``s3:listObjectsV2`` ItemReader list every page of the prefix, as AWS's does."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
        resource_eval_s3 as reader,
    )

    def list_all(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        client = reader.ResourceEvalS3._get_s3_client(resource_runtime_part, state_credentials)
        parameters = env.stack.pop()
        contents: list[dict[str, Any]] = []
        for page in client.get_paginator("list_objects_v2").paginate(**parameters):
            for item in page.get("Contents", []):
                contents.append(
                    {
                        "Etag": item["ETag"],
                        "Key": item["Key"],
                        "LastModified": int(item["LastModified"].timestamp()),
                        "Size": item["Size"],
                        "StorageClass": item.get("StorageClass", "STANDARD"),
                    }
                )
        env.stack.append(contents)

    reader.ResourceEvalS3._handle_list_objects_v2 = staticmethod(list_all)  # type: ignore[method-assign]

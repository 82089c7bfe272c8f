"""The public construct in a CDK app that is not this project's: a user's own stack with an explicit environment,
two models in two lifecycle modes, cdk-nag AwsSolutions and cfn-lint on the result; two pipelines in one stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra import CustomLabelsPipeline, PipelineConfig, constants
from infra.config import parse_config
from infra.pipeline import PipelineCollisionError
from lambdas.detect.settings import Settings
from lambdas.review.models import ReviewPolicy
from tests.support import ids
from tests.support.configs import model_block
from tests.support.paths import ROOT

ACCOUNT = ids.SAMPLE_ACCOUNT
REGION = "eu-west-1"  # not the default app's region: the construct must follow the stack's environment
WINDOW = {"cron": "cron(0 2 * * ? *)", "timezone": "Europe/Dublin", "window_minutes": 60, "lead_minutes": 10}
# One of the user's models asks for human review, in Amazon A2I too (so cdk-nag and cfn-lint see the reviewing
# model's A2I functions, rules and roles as a user's stack composes them).
A2I_FLOW_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:flow-definition/parts-review"
A2I_OUTPUT_BUCKET = "shelf-a2i-output"
A2I_OUTPUT_S3_URI = f"s3://{A2I_OUTPUT_BUCKET}/reviews/"
REVIEW = {
    "enabled": True,
    "min_confidence": 85,
    "label_min_confidence": {"bolt": 95},
    "audit_fraction": 0.02,
    "a2i_flow_definition_arn": A2I_FLOW_ARN,
    "a2i_output_s3_uri": A2I_OUTPUT_S3_URI,
}


def _model(name: str, prefix: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
    return model_block(name, prefix, lifecycle, region=REGION, account=ACCOUNT)


def _config(resource_prefix: str = "shelf", **extra: Any) -> PipelineConfig:
    return parse_config(
        {
            "resource_prefix": resource_prefix,
            "models": [
                _model("logos", "logos/", {"mode": "scheduled", "schedules": [WINDOW]}),
                {**_model("parts", "parts/", {"mode": "on_demand", "backlog_threshold": 50}), "review": REVIEW},
            ],
            **extra,
        }
    )


class ImageLabellingStack(Stack):
    """What a user writes: their own stack class, their own construct id, the pipeline as one part of it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.labelling = CustomLabelsPipeline(self, "Labelling", config=config)


class TwoPipelinesStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.shelves = CustomLabelsPipeline(self, "Shelves", config=_config("shelf"))
        self.plants = CustomLabelsPipeline(
            self, "Plants", config=_config("plants"), manifest_output_id="PlantsPipelineManifest"
        )


@dataclass
class UserSynth:
    stack: Stack
    template: dict[str, Any]
    template_path: Path
    report: dict[str, Any]
    error: Exception | None

    def resources(self, resource_type: str) -> dict[str, Any]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


def _synth(stack_class: type[Stack], outdir: Path, **kwargs: Any) -> UserSynth:
    # A bare App: a user's app has neither this project's cdk.json feature flags nor its build_app().
    app = App(outdir=str(outdir))
    stack = stack_class(app, stack_class.__name__, env=Environment(account=ACCOUNT, region=REGION), **kwargs)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    error: Exception | None = None
    try:
        assembly = app.synth()
    except Exception as exc:  # an unacknowledged finding fails synth(): the report below says which
        error = exc
    report = json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))
    path = outdir / f"{stack.stack_name}.template.json"
    template = json.loads(path.read_text(encoding="utf-8")) if error is None else {}
    if error is None:
        assert Path(assembly.get_stack_by_name(stack.stack_name).template_full_path) == path
    return UserSynth(stack, template, path, report, error)


@pytest.fixture(scope="module")
def user_stack(tmp_path_factory: pytest.TempPathFactory) -> UserSynth:
    return _synth(ImageLabellingStack, tmp_path_factory.mktemp("user.cdk.out"), config=_config())


@pytest.fixture(scope="module")
def two_pipelines(tmp_path_factory: pytest.TempPathFactory) -> UserSynth:
    return _synth(TwoPipelinesStack, tmp_path_factory.mktemp("two.cdk.out"))


def _unacknowledged(synth: UserSynth) -> list[tuple[str, list[str]]]:
    return [
        (violation["ruleName"], [c["constructPath"] for c in violation["violatingConstructs"]])
        for plugin in synth.report["pluginReports"]
        for violation in plugin["violations"]
    ]


def _manifest(value: dict[str, Any]) -> dict[str, Any]:
    """The manifest's JSON with each deploy-time value (Ref, GetAtt) stood in for by a placeholder."""
    separator, parts = value["Fn::Join"]
    document: dict[str, Any] = json.loads(separator.join(p if isinstance(p, str) else "<deploy-time>" for p in parts))
    return document


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_public_names_import_from_the_package() -> None:
    # Given / When the package's public names
    # Then they are the construct and the config model a user composes
    from infra.config import PipelineConfig as Config
    from infra.pipeline import CustomLabelsPipeline as Pipeline

    assert CustomLabelsPipeline is Pipeline
    assert PipelineConfig is Config


def test_importing_the_config_does_not_load_the_cdk() -> None:
    # Given a fresh interpreter (clp and the offline runtime import infra.config and infra.constants)
    code = "import sys, infra, infra.config, infra.constants; print('aws_cdk' in sys.modules)"

    # When it imports them
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    # Then the CDK (and its node process) stays unloaded until CustomLabelsPipeline is asked for
    assert result.stdout.strip() == "False"


def test_a_users_stack_passes_cdk_nag_with_every_finding_acknowledged(user_stack: UserSynth) -> None:
    # Given the user's stack synthesized with AwsSolutionsChecks attached to their app
    # Then synthesis succeeded and the plugin reports no finding without a written reason
    assert user_stack.error is None, _unacknowledged(user_stack) or user_stack.error
    (plugin,) = user_stack.report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    # ... and it did check something: the acknowledged findings are there, with their reasons
    assert plugin["suppressedViolations"]


def test_cfn_lint_reports_no_errors_on_a_users_stack(user_stack: UserSynth) -> None:
    # When cfn-lint checks the user's template
    result = _cfn_lint(user_stack.template_path)

    # Then it reports no error
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_model_gets_its_detection_controller_and_backfill(user_stack: UserSynth) -> None:
    # Then each model has its own queue and dead-letter queue (and "parts" its A2I dead-letter queue), a disabled
    # mapping, a detect function
    assert len(user_stack.resources("AWS::SQS::Queue")) == 2 * 2 + 1
    mappings = user_stack.resources("AWS::Lambda::EventSourceMapping").values()
    assert [m["Properties"]["Enabled"] for m in mappings] == [False, False]
    functions = {f["Properties"].get("Description") for f in user_stack.resources("AWS::Lambda::Function").values()}
    assert {"Custom Labels detection for model logos", "Custom Labels detection for model parts"} <= functions
    # ... a controller and a backfill named after the user's resource_prefix
    machines = {
        p["Properties"]["StateMachineName"] for p in user_stack.resources("AWS::StepFunctions::StateMachine").values()
    }
    assert machines == {f"shelf-{m}-{kind}" for m in ("logos", "parts") for kind in ("controller", "backfill")}
    # ... the scheduled model a window, the on-demand one a backlog alarm
    schedules = [s["Properties"]["Description"] for s in user_stack.resources("AWS::Scheduler::Schedule").values()]
    assert sorted(d.split()[1] for d in schedules if d.startswith("Start ")) == ["logos"]
    alarms = [a["Properties"]["AlarmDescription"] for a in user_stack.resources("AWS::CloudWatch::Alarm").values()]
    assert sorted(d.split()[2].rstrip(":") for d in alarms if d.startswith("Backlog of ")) == ["parts"]
    (bus,) = user_stack.resources("AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "shelf-events"


def test_clp_finds_the_manifest_in_a_users_stack(user_stack: UserSynth) -> None:
    # Given the user's stack (the construct sits at ImageLabellingStack/Labelling, not at the root)
    outputs = user_stack.template["Outputs"]

    # Then the manifest is under the output key clp reads, naming both models
    manifest = _manifest(outputs["PipelineManifest"]["Value"])
    assert set(manifest["models"]) == {"logos", "parts"}
    assert manifest["models"]["parts"]["prefix"] == "parts/"
    # ... and the app stack's flat outputs are not forced on the user's stack
    assert set(outputs) == {"PipelineManifest"}


def test_the_region_rule_names_the_users_region(user_stack: UserSynth) -> None:
    # Then the deploy-time region assertion is in the user's template, one per model
    assert isinstance(user_stack.stack, ImageLabellingStack)
    rule = user_stack.template["Rules"][user_stack.stack.get_logical_id(user_stack.stack.labelling.region_rule)]
    assert [a["Assert"] for a in rule["Assertions"]] == [{"Fn::Equals": [{"Ref": "AWS::Region"}, REGION]}] * 2


def test_two_pipelines_in_one_stack_synthesize_clean(two_pipelines: UserSynth) -> None:
    # Given one stack holding two pipelines with distinct resource prefixes and manifest ids
    # Then cdk-nag passes, cfn-lint passes, and nothing is named twice
    assert two_pipelines.error is None, _unacknowledged(two_pipelines) or two_pipelines.error
    assert _cfn_lint(two_pipelines.template_path).returncode == 0
    machines = [
        p["Properties"]["StateMachineName"]
        for p in two_pipelines.resources("AWS::StepFunctions::StateMachine").values()
    ]
    assert len(machines) == len(set(machines)) == 8
    buses = {b["Properties"]["Name"] for b in two_pipelines.resources("AWS::Events::EventBus").values()}
    assert buses == {"shelf-events", "plants-events"}
    dashboards = [
        d["Properties"]["DashboardName"] for d in two_pipelines.resources("AWS::CloudWatch::Dashboard").values()
    ]
    assert sorted(dashboards) == ["plants-custom-labels-pipeline", "shelf-custom-labels-pipeline"]
    assert {"PipelineManifest", "PlantsPipelineManifest"} == set(two_pipelines.template["Outputs"])
    region_rules = [r for name, r in two_pipelines.template["Rules"].items() if name != "CheckBootstrapVersion"]
    assert len(region_rules) == 2


@pytest.mark.parametrize(
    ("second", "clash"),
    [
        ({"config": _config("shelf"), "manifest_output_id": "OtherManifest"}, "resource_prefix 'shelf'"),
        ({"config": _config("plants")}, "manifest_output_id 'PipelineManifest'"),
        (
            {"config": _config("plants", bucket_name="shared-uploads"), "manifest_output_id": "OtherManifest"},
            "bucket_name 'shared-uploads'",
        ),
    ],
)
def test_a_second_pipeline_that_would_clash_is_refused_by_name(second: dict[str, Any], clash: str) -> None:
    # Given a stack that already holds one pipeline
    stack = Stack(App(), "Clash", env=Environment(account=ACCOUNT, region=REGION))
    first_config = _config("shelf", bucket_name="shared-uploads") if "bucket_name" in clash else _config("shelf")
    CustomLabelsPipeline(stack, "First", config=first_config)

    # When a second one reuses a name that must be unique
    # Then construction fails naming both paths and the clash, before CloudFormation would
    with pytest.raises(PipelineCollisionError, match=rf"Clash/Second and Clash/First .* same {clash}"):
        CustomLabelsPipeline(stack, "Second", **second)


def test_a_manifest_output_id_cloudformation_would_reject_is_refused() -> None:
    # Given an output id with a character CloudFormation does not allow in a logical id
    stack = Stack(App(), "BadId")

    # When / Then the construct refuses it
    with pytest.raises(ValueError, match="letters and digits only"):
        CustomLabelsPipeline(stack, "Pipeline", config=_config(), manifest_output_id="Pipeline-Manifest")


def test_a_stack_in_another_region_than_the_models_is_refused_at_synth() -> None:
    # Given a stack whose explicit region is not the models'
    stack = Stack(App(), "Elsewhere", env=Environment(account=ACCOUNT, region="us-east-1"))

    # When / Then the construct refuses it with the template rule's message instead of waiting for the deploy
    with pytest.raises(ValueError, match=rf"Model logos .* is in {REGION}: deploy this stack to {REGION}"):
        CustomLabelsPipeline(stack, "Pipeline", config=_config())


def test_readme_example_is_the_construct_users_get(tmp_path: Path) -> None:
    # Given the README's example stack
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Use it in your own CDK app")
    example = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]

    # When it runs as a script beside this repository (an app, a stack, the construct)
    result = subprocess.run(
        [sys.executable, "-c", example + "\napp.synth()\n"],
        cwd=ROOT,
        env={**os.environ, "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )

    # Then it synthesizes the stack it names, with the manifest clp reads
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "ShelfLabelling.template.json").read_text(encoding="utf-8"))
    assert "PipelineManifest" in template["Outputs"]


def test_the_construct_pins_the_feature_flags_the_app_is_tested_with() -> None:
    # Given cdk.json's feature flags (the default app's), less the app-wide partition list
    from infra.app import cdk_json_context
    from infra.pipeline import FEATURE_FLAGS

    flags = {k: v for k, v in cdk_json_context().items() if k.startswith("@aws-cdk/")}
    flags.pop("@aws-cdk/core:target-partitions")

    # Then the construct sets the same ones on its own subtree, so a user's app builds the tested resources
    assert flags == FEATURE_FLAGS


def test_only_a_reviewing_model_passes_its_review_policy_to_its_detect_function(user_stack: UserSynth) -> None:
    # Given the user's two models, only "parts" with a review block
    environments = {
        f["Properties"]["Environment"]["Variables"]["MODEL_NAME"]: f["Properties"]["Environment"]["Variables"]
        for f in user_stack.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == constants.DETECT_HANDLER
    }
    # When the detect function of each reads its environment (references to the table, bus and queue as text)
    parts, logos = (
        Settings.model_validate({k: v if isinstance(v, str) else "ref" for k, v in environments[name].items()})
        for name in ("parts", "logos")
    )
    # Then "parts" applies the configured policy, and "logos" (no REVIEW_POLICY at all: its template as before) none
    assert parts.review_policy == ReviewPolicy.model_validate(REVIEW)
    assert "REVIEW_POLICY" not in environments["logos"]
    assert logos.review_policy.enabled is False


def _a2i_functions(synth: UserSynth) -> dict[str, dict[str, Any]]:
    """The A2I functions by handler: the starter and the ingest."""
    handlers = (constants.A2I_START_HANDLER, constants.A2I_INGEST_HANDLER)
    return {
        f["Properties"]["Handler"]: f["Properties"]
        for f in synth.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] in handlers
    }


def _role_statements(synth: UserSynth, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_a_model_naming_an_a2i_flow_definition_gets_the_a2i_functions_scoped_to_it(user_stack: UserSynth) -> None:
    # Given the user's stack, where only "parts" names a flow definition and its output location
    functions = _a2i_functions(user_stack)

    # Then there is one starter and one ingest function, both for "parts" and its flow definition
    assert set(functions) == {constants.A2I_START_HANDLER, constants.A2I_INGEST_HANDLER}
    for function in functions.values():
        variables = function["Environment"]["Variables"]
        assert (variables["MODEL_NAME"], variables["FLOW_DEFINITION_ARN"]) == ("parts", A2I_FLOW_ARN)
        assert function["Timeout"] == constants.A2I_FUNCTION_TIMEOUT_SECONDS
    assert functions[constants.A2I_INGEST_HANDLER]["Environment"]["Variables"]["A2I_OUTPUT_S3_URI"] == (
        A2I_OUTPUT_S3_URI
    )
    # ... StartHumanLoop is allowed on that flow definition only, and only to the starter
    starts = [
        (handler, s)
        for handler, function in functions.items()
        for s in _role_statements(user_stack, function)
        if "sagemaker:StartHumanLoop" in _actions(s)
    ]
    assert [(h, s["Resource"]) for h, s in starts] == [(constants.A2I_START_HANDLER, A2I_FLOW_ARN)]
    # ... the ingest reads S3 under <output prefix>/<flow definition name>/ only
    (read,) = [
        s
        for s in _role_statements(user_stack, functions[constants.A2I_INGEST_HANDLER])
        if any(a.startswith("s3:") for a in _actions(s))
    ]
    assert _actions(read) == ["s3:GetObject"]
    assert read["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{A2I_OUTPUT_BUCKET}/reviews/parts-review/*"]]
    }


def test_the_a2i_rules_listen_for_this_model_and_flow_definition_and_their_dead_letters_alarm(
    user_stack: UserSynth,
) -> None:
    # Given the user's stack's rules and alarms
    rules = [r["Properties"] for r in user_stack.resources("AWS::Events::Rule").values()]
    alarms = [a["Properties"] for a in user_stack.resources("AWS::CloudWatch::Alarm").values()]

    # Then one rule starts loops from the pipeline bus's Review Requested events of "parts" only
    (start,) = [r for r in rules if r["EventPattern"].get("detail-type") == [constants.DETAIL_TYPE_REVIEW_REQUESTED]]
    assert start["EventPattern"]["detail"] == {"model_name": ["parts"]}
    assert "EventBusName" in start
    # ... one ingests A2I's status events of the flow definition from the default bus
    (ingest,) = [r for r in rules if r["EventPattern"].get("source") == ["aws.sagemaker"]]
    assert ingest["EventPattern"]["detail"] == {"flowDefinitionArn": [A2I_FLOW_ARN]}
    assert "EventBusName" not in ingest
    # ... and the A2I dead-letter queue has an alarm that notifies the pipeline's alarm topic like the others
    (dead_letters,) = [a for a in alarms if a["AlarmDescription"].startswith("parts: A2I events in the dead-letter")]
    (topic_id,) = user_stack.resources("AWS::SNS::Topic")
    assert dead_letters["AlarmActions"] == [{"Ref": topic_id}]


def test_a_flow_definition_of_a_model_whose_review_is_disabled_deploys_nothing_for_a2i(tmp_path: Path) -> None:
    # Given a user's model that names a flow definition and its output, with review switched off
    # (the default app's stack, without any A2I config, is tests/infra/test_stack.py's)
    review = {**REVIEW, "enabled": False}
    parts = _model("parts", "parts/", {"mode": "on_demand", "backlog_threshold": 50})
    config = parse_config({"resource_prefix": "shelf", "models": [{**parts, "review": review}]})
    app = App(outdir=str(tmp_path))
    stack = ImageLabellingStack(app, "ReviewOff", config=config, env=Environment(account=ACCOUNT, region=REGION))

    # When it is synthesized
    template = json.loads(Path(app.synth().get_stack_by_name("ReviewOff").template_full_path).read_text())
    synth = UserSynth(stack, template, tmp_path, {}, None)

    # Then it has no A2I function, rule or permission: no loop is started for results nobody marks pending
    assert stack.labelling.a2i_reviews == {}
    assert _a2i_functions(synth) == {}
    assert not [r for r in synth.resources("AWS::Events::Rule").values() if "aws.sagemaker" in json.dumps(r)]
    assert "sagemaker:" not in json.dumps(synth.resources("AWS::IAM::Policy"))

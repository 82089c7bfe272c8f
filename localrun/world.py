"""The pipeline's AWS resources in moto, built once from the same typed config the CDK app reads.

The offline runtime (:mod:`localrun.runtime`) and every test suite that needs resources (the controller,
operator-command and scale suites, the reliability scenarios) build them here, so the shapes that matter
to the code under test - queue attributes and redrive, the event source mapping, the tables' keys, the
bus, the ingest rules, the controller and backfill definitions as substituted for CloudFormation - exist
in one place. Keep in step with ``infra/constructs`` (tests/infra compares the table key schemas with the
template). Offline and tests only: nothing here is deployed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra import constants
from infra.config import LifecycleMode, ModelConfig, PipelineConfig
from infra.statemachines import deployed_backfill, deployed_controller
from lambdas.common import ingest
from localrun.moto_adapt import cache_parsed_definitions, install_sdk_field_names, moto_definition, seed_moto_ids
from localrun.moto_fast import install_fast_moto
from localrun.moto_jsonata import install_moto_jsonata
from localrun.resources import create_control_table, create_results_table

ACCOUNT = "123456789012"  # moto's default account
ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Names:
    """Names of the shared resources (one per pipeline)."""

    bucket: str = "clp-uploads-local"
    results_table: str = "clp-results-local"
    control_table: str = "clp-control-local"
    bus: str = "clp-events-local"


@dataclass
class ModelResources:
    """What the world holds for one model."""

    model: ModelConfig
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    function_name: str
    mapping_uuid: str
    state_machine_arn: str = ""
    backfill_arn: str = ""
    backlog_alarm_name: str = ""
    poller: Any = field(default=None, repr=False)  # localrun.poller.EventSourcePoller, set by the runtime


@dataclass(frozen=True)
class BacklogRule:
    """The backlog alarm's metric math (``infra/constructs/controller.py``, ``_backlog_alarm``):
    ``IF(visible >= threshold OR age >= age_limit, 1, 0)``, with the age limit the latency target less the
    start latency margin (at least a minute)."""

    threshold: int
    age_limit_seconds: int

    @classmethod
    def of(cls, model: ModelConfig) -> BacklogRule:
        lifecycle = model.lifecycle
        margin = constants.CONTROLLER_START_LATENCY_MARGIN_MINUTES
        return cls(lifecycle.backlog_threshold, max(60, (lifecycle.latency_target_minutes - margin) * 60))

    @property
    def expression(self) -> str:
        return f"IF(visible >= {self.threshold} OR age >= {self.age_limit_seconds}, 1, 0)"

    def breaching(self, visible: int, age_seconds: float) -> bool:
        return visible >= self.threshold or age_seconds >= self.age_limit_seconds


def has_backlog_alarm(model: ModelConfig) -> bool:
    """Whether the construct gives ``model`` a backlog alarm (and the rule it triggers)."""
    return model.lifecycle.mode in (LifecycleMode.ON_DEMAND, LifecycleMode.BOTH)


def adapt_moto() -> None:
    """The moto adaptations every offline world needs, before moto starts (idempotent; offline only): the JSONata
    evaluator, Step Functions' aws-sdk field names, one parse per definition, seeded resource ids, the
    constant-cost request paths (``localrun/moto_adapt.py``, ``moto_jsonata.py``, ``moto_fast.py``)."""
    install_moto_jsonata()
    install_sdk_field_names()
    cache_parsed_definitions()
    seed_moto_ids()
    install_fast_moto()


def trust_policy(service: str) -> str:
    """The assume-role policy letting ``service`` (``lambda.amazonaws.com``, ``states.amazonaws.com``) use a role."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def placeholder_zip() -> bytes:
    """moto needs a code package for the function record; the detect handler is called in-process."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The offline runtime invokes lambdas.detect.handler in-process.\n")
    return buffer.getvalue()


class World:
    """Creates the pipeline's resources in an active moto mock; each ``create_*`` is one capability.

    ``client`` makes boto3 clients (the caller's region and retry settings). The per-model queue, DLQ,
    detect function and event source mapping are named as the stack names them
    (``<resource_prefix>-<model>-detect``); the mapping record points at an idle *shadow* queue, because
    moto delivers messages itself to an enabled mapping on its queue (and deletes them): the offline
    runtime's poller, honouring the mapping's state, owns the real queue.
    """

    def __init__(self, config: PipelineConfig, client: ClientFactory, names: Names | None = None) -> None:
        self.config = config
        self.client = client
        self.names = names or Names()
        self.region = config.models[0].region
        self.models: dict[str, ModelResources] = {}
        self._roles: dict[str, str] = {}

    # -- shared resources -----------------------------------------------------------------------------

    def create_shared(self) -> World:
        """Uploads bucket (versioned), results and control tables, the pipeline's bus."""
        self.create_bucket(versioned=True)
        self.create_results_table()
        self.create_control_table()
        self.create_bus()
        return self

    def create_bucket(self, *, versioned: bool) -> None:
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=self.names.bucket)
        else:
            s3.create_bucket(Bucket=self.names.bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        if versioned:
            s3.put_bucket_versioning(Bucket=self.names.bucket, VersioningConfiguration={"Status": "Enabled"})

    def create_results_table(self) -> None:
        create_results_table(self.client("dynamodb"), self.names.results_table)

    def create_control_table(self) -> None:
        create_control_table(self.client("dynamodb"), self.names.control_table)

    def create_bus(self) -> None:
        self.client("events").create_event_bus(Name=self.names.bus)

    def role(self, service: str) -> str:
        """The ARN of a role trusting ``service`` (created on first use)."""
        if service not in self._roles:
            name = f"{self.config.resource_prefix}-local-{service.split('.', maxsplit=1)[0]}"
            response = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(service))
            self._roles[service] = str(response["Role"]["Arn"])
        return self._roles[service]

    # -- per model ------------------------------------------------------------------------------------

    def create_models(self) -> World:
        for model in self.config.models:
            self.create_model(model)
        return self

    def create_model(self, model: ModelConfig) -> ModelResources:
        """The model's DLQ, detect queue (redrive to the DLQ), detect function and disabled mapping."""
        name = f"{self.config.resource_prefix}-{model.name}"
        retention = str(constants.QUEUE_RETENTION_DAYS * 86400)
        dlq_url, dlq_arn = self._queue(f"{name}-dlq", {"MessageRetentionPeriod": retention})
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": constants.DLQ_MAX_RECEIVE_COUNT}
        queue_url, queue_arn = self._queue(
            f"{name}-detect",
            {
                "MessageRetentionPeriod": retention,
                "VisibilityTimeout": str(constants.QUEUE_VISIBILITY_TIMEOUT_SECONDS),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
        _, shadow_arn = self._queue(f"{name}-esm-shadow", {})
        lambda_client = self.client("lambda")
        function_name = f"{name}-detect"
        lambda_client.create_function(
            FunctionName=function_name,
            Runtime=constants.LAMBDA_PYTHON_RUNTIME,
            Role=self.role("lambda.amazonaws.com"),
            Handler=constants.DETECT_HANDLER,
            Code={"ZipFile": placeholder_zip()},
            Timeout=constants.DETECT_FUNCTION_TIMEOUT_SECONDS,
        )
        mapping = lambda_client.create_event_source_mapping(
            EventSourceArn=shadow_arn,
            FunctionName=function_name,
            BatchSize=constants.SQS_BATCH_SIZE,
            Enabled=False,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            ScalingConfig={"MaximumConcurrency": model.effective_max_concurrency},
        )
        resources = ModelResources(
            model=model,
            queue_url=queue_url,
            queue_arn=queue_arn,
            dlq_url=dlq_url,
            dlq_arn=dlq_arn,
            function_name=function_name,
            mapping_uuid=mapping["UUID"],
        )
        self.models[model.name] = resources
        return resources

    def _queue(self, name: str, attributes: dict[str, str]) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return str(url), str(arn)

    def configure_ingest(self) -> None:
        """Uploads → EventBridge → one rule per model → its queue, as deployed (lambdas/common/ingest.py).

        moto sends each S3 event to every rule of every bus in the region and filters by the rule's pattern,
        so the deployed pattern is what routes an upload to its model's queue here too.
        """
        self.client("s3").put_bucket_notification_configuration(
            Bucket=self.names.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        events = self.client("events")
        for resources in self.models.values():
            rule = f"{self.config.resource_prefix}-{resources.model.name}-ingest"
            pattern = ingest.object_created_pattern(self.names.bucket, resources.model.prefix)
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
            target = {
                "Id": "detect-queue",
                "Arn": resources.queue_arn,
                "DeadLetterConfig": {"Arn": resources.dlq_arn},
                "RetryPolicy": {
                    "MaximumRetryAttempts": ingest.RETRY_ATTEMPTS,
                    "MaximumEventAgeInSeconds": ingest.MAX_EVENT_AGE_SECONDS,
                },
            }
            events.put_targets(Rule=rule, Targets=[target])

    def create_backlog_alarm(self, resources: ModelResources) -> str:
        """The on-demand trigger's alarm, as the construct deploys it: metric math over the queue's visible
        messages and the age of its oldest message (``BacklogRule``). The controller reads its state;
        offline, :mod:`localrun.triggers` evaluates it and sets that state."""
        name = f"{self.config.resource_prefix}-{resources.model.name}-backlog"
        period = constants.CONTROLLER_BACKLOG_PERIOD_MINUTES * 60
        dimensions = [{"Name": "QueueName", "Value": resources.queue_url.rsplit("/", 1)[-1]}]

        def queue_metric(query_id: str, metric: str) -> dict[str, Any]:
            stat = {"Metric": {"Namespace": "AWS/SQS", "MetricName": metric, "Dimensions": dimensions}}
            return {"Id": query_id, "MetricStat": {**stat, "Period": period, "Stat": "Maximum"}, "ReturnData": False}

        self.client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            Metrics=[
                {"Id": "expr", "Expression": BacklogRule.of(resources.model).expression, "ReturnData": True},
                queue_metric("visible", "ApproximateNumberOfMessagesVisible"),
                queue_metric("age", "ApproximateAgeOfOldestMessage"),
            ],
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        resources.backlog_alarm_name = name
        return name

    def create_controller(
        self,
        resources: ModelResources,
        *,
        config: PipelineConfig | None = None,
        overrides: dict[str, str] | None = None,
        name_suffix: str = "",
    ) -> str:
        """The real controller ASL file, substituted as CloudFormation does, adapted for moto.

        ``config`` substitutes another config's settings for this model (same resources); ``overrides``
        replaces substitutions (e.g. zero-second polls, since moto sleeps Wait states in real time).
        """
        config = config or self.config
        model = config.model(resources.model.name)
        definition = deployed_controller(
            config,
            model,
            overrides=overrides,
            queue_url=resources.queue_url,
            event_source_mapping_id=resources.mapping_uuid,
            control_table_name=self.names.control_table,
            event_bus_name=self.names.bus,
            backlog_alarm_name=resources.backlog_alarm_name,
        )
        response = self.client("stepfunctions").create_state_machine(
            name=f"{self.config.resource_prefix}-{model.name}-controller{name_suffix}",
            definition=moto_definition(definition),
            roleArn=self.role("states.amazonaws.com"),
            type="STANDARD",
        )
        arn = str(response["stateMachineArn"])
        if not name_suffix:
            resources.state_machine_arn = arn
        return arn

    def create_controllers(self) -> World:
        """Each model's controller, after its backlog alarm when its mode has one (as the construct orders them:
        the definition names the alarm)."""
        for resources in self.models.values():
            if has_backlog_alarm(resources.model):
                self.create_backlog_alarm(resources)
            self.create_controller(resources)
        return self

    def create_backfill(
        self, resources: ModelResources, adapt: Callable[[str], str], *, controller_arn: str | None = None
    ) -> tuple[str, str]:
        """The real backfill ASL file, substituted as CloudFormation does; ``adapt`` turns it into what moto
        runs (its distributed-Map adaptations live with the tests: tests/support/moto_backfill.py).

        Returns the state machine ARN and the substituted (deployed, unadapted) definition.
        """
        model = resources.model
        definition = deployed_backfill(
            self.config,
            model,
            bucket_name=self.names.bucket,
            queue_url=resources.queue_url,
            results_table_name=self.names.results_table,
            controller_state_machine_arn=controller_arn or resources.state_machine_arn,
            region=self.region,
        )
        response = self.client("stepfunctions").create_state_machine(
            name=f"{self.config.resource_prefix}-{model.name}-backfill",
            definition=adapt(definition),
            roleArn=self.role("states.amazonaws.com"),
        )
        resources.backfill_arn = str(response["stateMachineArn"])
        return resources.backfill_arn, definition

    # -- observation ----------------------------------------------------------------------------------

    def capture_events(self, name: str, detail_types: list[str] | None = None) -> str:
        """An EventBridge rule on the pipeline's bus → a new SQS queue: every event actually delivered.

        ``detail_types`` narrows the rule (default: every event of the pipeline's source). Returns the
        queue URL.
        """
        url, arn = self._queue(name, {})
        pattern: dict[str, Any] = {"source": [constants.EVENT_SOURCE]}
        if detail_types:
            pattern["detail-type"] = detail_types
        events = self.client("events")
        events.put_rule(Name=f"{name}-rule", EventBusName=self.names.bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{name}-rule", EventBusName=self.names.bus, Targets=[{"Id": "q", "Arn": arn}])
        return url

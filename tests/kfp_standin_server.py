"""A loopback stand-in for the Kubeflow Pipelines v2beta1 REST API, for tests.

It stands in for a KFP cluster, which cannot run here (no Kubernetes, no network), so the
real kfp SDK client can be exercised over real HTTP. It implements the endpoints the
SDK calls for our commands:

    GET  /apis/v2beta1/healthz
    GET  /apis/v2beta1/experiments            POST /apis/v2beta1/experiments
    POST /apis/v2beta1/runs                   GET  /apis/v2beta1/runs/{id}
    POST /apis/v2beta1/recurringruns          GET  /apis/v2beta1/recurringruns[/{id}]
    POST /apis/v2beta1/recurringruns/{id}:disable | :enable
    DELETE /apis/v2beta1/recurringruns/{id}

kfp_server_api's models check almost nothing when built, so every request body is
checked here the way the server's JSON decoding would: keys against each model's
attribute_map, enums against allowable_values, value types against openapi_types; the
pipeline spec is parsed strictly into kfp's PipelineSpec proto and its references are
followed; a cron must have KFP's 6 fields (seconds first) and parse; max_concurrency
must be 1-10. A bad request gets a 400 and is recorded in `errors`.

It binds 127.0.0.1 only (port chosen by the OS), and stops by itself after `lifetime`
seconds or `max_requests` requests. Runs do not execute: a run reports PENDING, then
RUNNING, then `final_state` as it is polled.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

import kfp_server_api
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"
_SERIALIZER = kfp_server_api.ApiClient()
# int64 fields that kfp_server_api types as 'str': proto JSON takes a number or a string.
_INT64_AS_STR = {"max_concurrency", "interval_second", "long_value", "total_size"}
# Proto JSON also takes an enum's number; filter.proto skips 4 in Predicate.Operation.
_ENUM_NUMBERS = {
    "V2beta1PredicateOperation": {
        0: "OPERATION_UNSPECIFIED",
        1: "EQUALS",
        2: "NOT_EQUALS",
        3: "GREATER_THAN",
        5: "GREATER_THAN_EQUALS",
        6: "LESS_THAN",
        7: "LESS_THAN_EQUALS",
        8: "IN",
        9: "IS_SUBSTRING",
    }
}


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    body: Any
    authorized: bool  # whether the expected bearer token came (the token is not kept)


class ValidationError(ValueError):
    pass


def parse_model(value: Any, type_name: str, where: str) -> Any:
    """Checks decoded JSON against kfp_server_api's type `type_name` and returns it built
    (models instantiated, enums as names); raises ValidationError naming the field."""
    if value is None:
        return None
    if type_name.startswith("list["):
        if not isinstance(value, list):
            raise ValidationError(f"{where}: expected a list")
        return [parse_model(item, type_name[5:-1], f"{where}[{i}]") for i, item in enumerate(value)]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            raise ValidationError(f"{where}: expected an object")
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        return {key: parse_model(item, inner, f"{where}.{key}") for key, item in value.items()}
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{where}: expected an integer, got {value!r}")
        return value
    if type_name == "datetime":
        try:
            datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{where}: not an RFC 3339 time: {value!r}") from None
        return value
    primitive = {"str": str, "bool": bool, "float": (int, float), "object": object}
    if type_name in primitive:
        if not isinstance(value, primitive[type_name]) or (
            type_name == "float" and isinstance(value, bool)
        ):
            raise ValidationError(f"{where}: expected {type_name}, got {type(value).__name__}")
        return value
    model = getattr(kfp_server_api.models, type_name, None)
    if model is None:
        raise ValidationError(f"{where}: unknown model type {type_name}")
    allowed = getattr(model, "allowable_values", None)
    if allowed is not None and not model.openapi_types:
        name = enum_name(value, type_name)
        if name not in allowed:
            raise ValidationError(f"{where}: {value!r} is not one of {allowed}")
        return name
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: expected a {type_name} object")
    # Proto JSON takes a field's proto name or its lowerCamelCase JSON name.
    json_to_attribute = {}
    for attr, json_key in model.attribute_map.items():
        for key in (attr, json_key, _camel(attr)):
            json_to_attribute[key] = attr
    kwargs = {}
    for key, item in value.items():
        if key not in json_to_attribute:
            raise ValidationError(f"{where}: unknown field {key!r} for {type_name}")
        attribute = json_to_attribute[key]
        field_type = model.openapi_types[attribute]
        if attribute in _INT64_AS_STR and field_type == "str":
            if (
                not (isinstance(item, int) and not isinstance(item, bool))
                and not str(item).isdigit()
            ):
                raise ValidationError(f"{where}.{key}: expected an int64, got {item!r}")
            kwargs[attribute] = str(item)
            continue
        kwargs[attribute] = parse_model(item, field_type, f"{where}.{key}")
    return model(**kwargs)


def enum_name(value: Any, type_name: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        numbers = _ENUM_NUMBERS.get(type_name) or dict(
            enumerate(getattr(kfp_server_api.models, type_name).allowable_values)
        )
        return numbers.get(value)
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_pipeline_spec(
    spec: Any, runtime_config: Optional[dict]
) -> pipeline_spec_pb2.PipelineSpec:
    """Parses the spec like the KFP API server does and follows its references."""
    if not isinstance(spec, dict):
        raise ValidationError("pipeline_spec: expected an object")
    if "pipeline_spec" in spec:  # the SDK's {pipeline_spec, platform_spec} form
        json_format.ParseDict(spec.get("platform_spec", {}), pipeline_spec_pb2.PlatformSpec())
        spec = spec["pipeline_spec"]
    try:
        parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValidationError(f"pipeline_spec does not parse as a PipelineSpec: {e}") from None
    if not parsed.schema_version or not parsed.pipeline_info.name:
        raise ValidationError("pipeline_spec: schemaVersion and pipelineInfo.name are required")
    if not parsed.root.dag.tasks:
        raise ValidationError("pipeline_spec: the root DAG has no tasks")
    executors = json_format.MessageToDict(parsed.deployment_spec).get("executors", {})
    for name, task in parsed.root.dag.tasks.items():
        component = task.component_ref.name
        if component not in parsed.components:
            raise ValidationError(f"pipeline_spec: task {name} names unknown component {component}")
        label = parsed.components[component].executor_label
        if label and label not in executors:
            raise ValidationError(
                f"pipeline_spec: component {component} names unknown executor {label}"
            )
        for dependency in task.dependent_tasks:
            if dependency not in parsed.root.dag.tasks:
                raise ValidationError(
                    f"pipeline_spec: task {name} depends on unknown task {dependency}"
                )
    declared = parsed.root.input_definitions.parameters
    given = (runtime_config or {}).get("parameters") or {}
    for key in given:
        if key not in declared:
            raise ValidationError(f"runtime_config.parameters: {key} is not a pipeline parameter")
    for key, definition in declared.items():
        if (
            key not in given
            and not definition.HasField("default_value")
            and not definition.is_optional
        ):
            raise ValidationError(f"runtime_config.parameters: {key} is required")
    return parsed


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")


def check_cron(cron: str) -> None:
    """KFP's robfig/cron form: 6 fields, seconds first."""
    fields = cron.split()
    if len(fields) != 6:
        raise ValidationError(
            f"cron {cron!r}: KFP needs 6 fields (seconds first), got {len(fields)}"
        )
    if not all(_CRON_FIELD.match(f) for f in fields):
        raise ValidationError(f"cron {cron!r}: unexpected characters")
    from croniter import croniter

    try:
        croniter(cron.replace("?", "*"), datetime.datetime(2025, 1, 1), second_at_beginning=True)
    except (ValueError, KeyError) as e:
        raise ValidationError(f"cron {cron!r}: {e}") from None


class StandinKfp:
    """Use as a context manager; `url` is the host to give kfp.Client."""

    def __init__(
        self,
        token: Optional[str] = None,
        lifetime: float = 180.0,
        max_requests: int = 500,
        final_state: str = "SUCCEEDED",
        polls_to_finish: int = 2,
    ):
        assert final_state in kfp_server_api.V2beta1RuntimeState.allowable_values
        self._token = token
        self._lifetime = lifetime
        self._max_requests = max_requests
        self.final_state = final_state
        self.polls_to_finish = polls_to_finish
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._timer: Optional[threading.Timer] = None
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "StandinKfp":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                standin._handle(self, "GET")

            def do_POST(self):
                standin._handle(self, "POST")

            def do_DELETE(self):
                standin._handle(self, "DELETE")

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        self._timer = threading.Timer(self._lifetime, self.stop)  # stops even if a test hangs
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped or self._server is None:
                return
            self._stopped = True
        if self._timer:
            self._timer.cancel()
        self._server.shutdown()  # waits for serve_forever to return (<= poll interval)
        self._server.server_close()

    def paths(self, method: Optional[str] = None) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests if method in (None, r.method)]

    # --- request handling --------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = None
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            if length:
                body = json.loads(handler.rfile.read(length))
        except ValueError:
            return self._reply(handler, 400, {"code": 3, "message": "body is not JSON"})
        authorized = (
            self._token is None or handler.headers.get("Authorization") == f"Bearer {self._token}"
        )
        with self._lock:
            self.requests.append(RecordedRequest(method, url.path, query, body, authorized))
            if len(self.requests) >= self._max_requests:
                threading.Thread(target=self.stop, daemon=True).start()
        if not authorized:
            return self._reply(
                handler, 401, {"code": 16, "message": "missing or wrong bearer token"}
            )
        try:
            status, payload = self._route(method, url.path, query, body)
        except ValidationError as e:
            self.errors.append(str(e))
            status, payload = 400, {"code": 3, "message": str(e)}
        self._reply(handler, status, payload)

    def _reply(self, handler, status: int, payload: Any) -> None:
        data = json.dumps(_SERIALIZER.sanitize_for_serialization(payload)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        if not path.startswith(API + "/"):
            return _not_found(path)
        parts = path[len(API) + 1 :].split("/")
        resource, rest = parts[0], parts[1:]
        with self._lock:
            if resource == "healthz" and method == "GET" and not rest:
                return 200, kfp_server_api.V2beta1GetHealthzResponse(multi_user=False)
            if resource == "experiments":
                return self._experiments(method, rest, query, body)
            if resource == "runs":
                return self._runs(method, rest, body)
            if resource == "recurringruns":
                return self._recurring_runs(method, rest, query, body)
        return _not_found(path)

    def _experiments(self, method, rest, query, body):
        if method == "POST" and not rest:
            experiment = parse_model(body, "V2beta1Experiment", "experiment")
            if (
                not isinstance(experiment, kfp_server_api.V2beta1Experiment)
                or not experiment.display_name
            ):
                raise ValidationError("experiment.display_name is required")
            if any(
                e.display_name == experiment.display_name and e.namespace == experiment.namespace
                for e in self.experiments.values()
            ):
                return 409, {"code": 6, "message": "experiment already exists"}
            experiment.experiment_id = str(uuid.uuid4())
            experiment.created_at = _now()
            experiment.storage_state = "AVAILABLE"
            self.experiments[experiment.experiment_id] = experiment
            return 200, experiment
        if method == "GET" and not rest:
            found = list(self.experiments.values())
            if query.get("filter"):
                predicates = _filter(query["filter"])
                found = [e for e in found if _matches(e, predicates)]
            if query.get("namespace"):
                found = [e for e in found if e.namespace in (None, "", query["namespace"])]
            return 200, kfp_server_api.V2beta1ListExperimentsResponse(
                experiments=found, total_size=len(found)
            )
        if method == "GET" and len(rest) == 1 and rest[0] in self.experiments:
            return 200, self.experiments[rest[0]]
        return _not_found("/".join(["experiments", *rest]))

    def _runs(self, method, rest, body):
        if method == "POST" and not rest:
            run = parse_model(body, "V2beta1Run", "run")
            self._check_run_like(run, "run")
            run.run_id = str(uuid.uuid4())
            run.created_at = _now()
            run.state = "PENDING"
            run.storage_state = "AVAILABLE"
            self.runs[run.run_id] = run
            self._polls[run.run_id] = 0
            return 200, run
        if method == "GET" and len(rest) == 1 and rest[0] in self.runs:
            run = self.runs[rest[0]]
            self._polls[rest[0]] += 1
            polls = self._polls[rest[0]]
            run.state = (
                "PENDING"
                if polls < self.polls_to_finish
                else "RUNNING"
                if polls == self.polls_to_finish
                else self.final_state
            )
            return 200, run
        return _not_found("/".join(["runs", *rest]))

    def _recurring_runs(self, method, rest, query, body):
        if method == "POST" and not rest:
            run = parse_model(body, "V2beta1RecurringRun", "recurring_run")
            self._check_run_like(run, "recurring_run")
            trigger = run.trigger
            if trigger is None or (trigger.cron_schedule is None) == (
                trigger.periodic_schedule is None
            ):
                raise ValidationError(
                    "recurring_run.trigger: exactly one of cron_schedule and "
                    "periodic_schedule is required"
                )
            if trigger.cron_schedule is not None:
                check_cron(trigger.cron_schedule.cron or "")
            concurrency = int(run.max_concurrency or 0)
            if not 1 <= concurrency <= 10:
                raise ValidationError(
                    f"recurring_run.max_concurrency must be 1-10, got {concurrency}"
                )
            run.recurring_run_id = str(uuid.uuid4())
            run.created_at = _now()
            run.status = "DISABLED" if run.mode == "DISABLE" else "ENABLED"
            self.recurring_runs[run.recurring_run_id] = run
            return 200, run
        if method == "GET" and not rest:
            found = [
                r
                for r in self.recurring_runs.values()
                if query.get("experiment_id") in (None, r.experiment_id)
            ]
            size = int(query.get("page_size") or 20)
            start = int(query.get("page_token") or 0)
            token = str(start + size) if start + size < len(found) else ""
            return 200, kfp_server_api.V2beta1ListRecurringRunsResponse(
                recurring_runs=found[start : start + size],
                total_size=len(found),
                next_page_token=token,
            )
        if len(rest) == 1:
            run_id, _, action = rest[0].partition(":")
            if run_id not in self.recurring_runs:
                return 404, {"code": 5, "message": f"recurring run {run_id} not found"}
            if method == "GET" and not action:
                return 200, self.recurring_runs[run_id]
            if method == "DELETE" and not action:
                del self.recurring_runs[run_id]
                return 200, {}
            if method == "POST" and action in ("disable", "enable"):
                run = self.recurring_runs[run_id]
                run.mode = action.upper()
                run.status = "DISABLED" if action == "disable" else "ENABLED"
                return 200, {}
        return _not_found("/".join(["recurringruns", *rest]))

    def _check_run_like(self, run, where: str) -> None:
        if run is None or not run.display_name:
            raise ValidationError(f"{where}.display_name is required")
        if run.experiment_id not in self.experiments:
            raise ValidationError(f"{where}.experiment_id {run.experiment_id!r} does not exist")
        if bool(run.pipeline_spec) == bool(run.pipeline_version_reference):
            raise ValidationError(
                f"{where}: exactly one of pipeline_spec and pipeline_version_reference is required"
            )
        if run.pipeline_spec:
            config = run.runtime_config
            check_pipeline_spec(
                run.pipeline_spec, {"parameters": config.parameters} if config else None
            )


def _filter(text: str) -> list:
    try:
        data = json.loads(text)
    except ValueError:
        raise ValidationError("filter is not JSON") from None
    return parse_model(data, "V2beta1Filter", "filter").predicates or []


def _matches(item, predicates: list) -> bool:
    for predicate in predicates:
        if predicate.operation != "EQUALS":
            raise ValidationError(
                f"filter: the stand-in supports EQUALS only, got {predicate.operation}"
            )
        if getattr(item, predicate.key, None) != predicate.string_value:
            return False
    return True


def _not_found(path: str) -> tuple[int, dict]:
    return 404, {"code": 5, "message": f"no such endpoint or object: {path}"}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

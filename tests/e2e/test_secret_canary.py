"""Secret canaries through a whole governed workload: the value appears nowhere we write.

A real processor (credentials on) holds a policy with a webhook token and an SMTP
password (``tests/e2e/test_secrets.py``'s policy and canaries). A real training script
runs under ``opentelemetry-instrument`` (W&B offline) with a recognisable fake
``WANDB_API_KEY`` in its environment, another key passed as ``instrument_wandb(
wandb_api_key=...)``, ``SecurityManager`` classifying its data, a governed artifact with
lineage, and it ends as a user's run would fail: an uncaught exception whose message
quotes the environment's API key and a ``password=`` secret. A second script asks the
adapter for every report the guide names (compliance status and reports, production and
failure reports, customer usage, ``export_audit_trail`` as json, csv and parquet), after
an experiment and a batch experiment that failed with a secret in their messages; then
the ``genops`` commands
(``report --json``, ``report customers``, ``audit export`` in every format, ``lineage``
of the artifact and of the run, ``retention plan``).

No canary, nor its base64 or hex form, may appear in:

- the DuckDB file and its ``.wal``: the raw bytes, and every text value of every table
  read through DuckDB (strings are stored compressed, so raw bytes alone prove little);
- every export file (raw bytes, and parquet read back through DuckDB);
- every report, as returned and as written (JSON, Markdown, CSV, command output);
- the processor's whole log;
- *our* logs of the training and report scripts: every record of the ``genops`` and
  ``opentelemetry.instrumentation.wandb`` loggers at DEBUG (tracebacks included) and
  every warning, written by the script to a file of its own; and the scripts'
  stdout/stderr once the user's own output is taken out: the traceback Python prints
  for the user's uncaught exception is the user's program speaking, not ours, so
  stderr is checked only above its ``Traceback`` line;
- the W&B offline run, where what our instrumentation adds to a run lands (in offline
  mode config, summary and artifact metadata live only in the run's ``.wandb`` log):
  every record of that log but the console ones. W&B's capture of the user's console
  (``output``/``output_raw`` records, ``files/output.log``) is the user's traceback
  again and is not searched; W&B's own debug logs are searched (they must not hold the
  key we hand to ``wandb.Settings``).

The friendly half: the failed run is still recorded, failed, with its error kind
(``RuntimeError``) visible and the message kept where it holds no secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import struct
import subprocess
from pathlib import Path

import duckdb

from tests.e2e.test_notify_channels import Web
from tests.e2e.test_secrets import CANARIES as POLICY_CANARIES
from tests.e2e.test_secrets import _policy
from tests.helpers import BIN, governed_env, last_json_line, run_python

# Recognisable, and shaped like the real thing where it matters: a W&B key is 40 hex.
ENV_KEY = "cafe0ca1a4ee" + "0123456789abcdef0123456789ab"  # WANDB_API_KEY in the env
ARG_KEY = "feed0ca1a4ee" + "fedcba9876543210fedcba987654"  # instrument_wandb(wandb_api_key=)
EXC_PASSWORD = "CANARY-exception-pass-g7"  # password=... in an exception message
EXPERIMENT_TOKEN = "CANARY-experiment-token-h8"  # token=... in a failed experiment
CANARIES = {
    **POLICY_CANARIES,
    "env_api_key": ENV_KEY,
    "arg_api_key": ARG_KEY,
    "exception_password": EXC_PASSWORD,
    "experiment_token": EXPERIMENT_TOKEN,
}
assert len(ENV_KEY) == len(ARG_KEY) == 40

OUR_LOGS = r"""
import logging, warnings
_ours = logging.FileHandler("our-logs.txt")
_ours.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
for _name in ("genops", "opentelemetry.instrumentation.wandb", "py.warnings"):
    logging.getLogger(_name).addHandler(_ours)
    logging.getLogger(_name).setLevel(logging.DEBUG)
logging.captureWarnings(True)
warnings.simplefilter("always")
"""

TRAINING = (
    OUR_LOGS
    + r"""
import json, os, wandb
from genops.providers.wandb import instrument_wandb
from genops.providers.wandb_governance import create_data_lineage
from genops.security import SecurityManager

adapter = instrument_wandb(wandb_api_key="__ARG_KEY__", team="ml-team", project="churn",
                           customer_id="acme", debug_mode=True, verbose_logging=True)
security = SecurityManager(adapter)

@security.classify_data("confidential")
def load_data():
    return [1, 2, 3]

data = load_data()
run = wandb.init(project="churn", name="canary", config={"lr": 0.1})
wandb.log({"loss": 0.5})
with open("model.bin", "wb") as fh:
    fh.write(b"weights")
model = wandb.Artifact("canary-model", type="model")
model.add_file("model.bin")
lineage = create_data_lineage(data_sources=["train.csv"], transformations=["clean"],
                              validation_results={"quality": 1}, compliance_approvals=["legal"])
adapter.log_governed_artifact(model, governance_metadata={
    "data_lineage": lineage, "retention_period_days": 1, "data_classification": "internal"})
security.flush_events()
print(json.dumps({"run_id": run.id}), flush=True)
raise RuntimeError(
    f"upload refused for key {os.environ['WANDB_API_KEY']}: password=__EXC_PASSWORD__"
)
"""
)

REPORTS = (
    OUR_LOGS
    + r"""
import datetime as dt, json
from genops.compliance_report import write_report
from genops.providers.wandb import instrument_wandb
from genops.security import SecurityManager

adapter = instrument_wandb(wandb_api_key="__ARG_KEY__", team="ml-team", project="churn",
                           customer_id="acme", debug_mode=True, verbose_logging=True)
security = SecurityManager(adapter)
try:
    with adapter.track_experiment_lifecycle("canary-experiment", max_cost=1):
        raise ValueError("feature store said: token=__EXPERIMENT_TOKEN__ expired")
except ValueError:
    pass

def leaky_step():
    raise ConnectionError("https://svc:__EXPERIMENT_TOKEN__@db.internal refused")

batch = adapter.process_experiment_batch([{"function": leaky_step, "name": "canary-batch"}])
reports = {
    "batch": {"results": batch},
    "status": adapter.get_compliance_status(),
    "compliance": adapter.generate_compliance_report(),
    "comprehensive": adapter.generate_comprehensive_compliance_report(),
    "production": adapter.generate_production_report(),
    "failures": adapter.generate_failure_report(),
    "customers": adapter.generate_customer_usage_report(
        customer_id="acme", billing_period=dt.date.today().strftime("%Y-%m")),
}
security.submit_compliance_report(reports["comprehensive"])
security.flush_events()
for name, report in reports.items():
    write_report(dict(report), f"report-{name}.json")
    write_report(dict(report), f"report-{name}.md")
today = (dt.date.today() + dt.timedelta(days=1)).isoformat()
for fmt in ("json", "csv", "parquet"):
    trail = adapter.export_audit_trail(start_date="2020-01-01", end_date=today, format=fmt)
    trail.save(f"adapter-audit.{fmt}")
print(json.dumps({name: report for name, report in reports.items()}, default=str))
adapter.cleanup()
"""
)


def encodings(canary: str) -> list[bytes]:
    """The canary as written, in hex (both cases) and in base64 at every alignment (the
    middle of the encoding of any text holding it contains one of these)."""
    raw = canary.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        forms.append(encoded[4 if offset else 0 :][: (len(raw) - 3) * 4 // 3])
    return forms


def leaks(blob: bytes | str, where: str) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [
        f"{name} in {where}"
        for name, canary in CANARIES.items()
        if any(form in data for form in encodings(canary))
    ]


def duckdb_text(path: Path) -> str:
    """Every value of every table of a DuckDB file, as text (a read-only copy: the
    processor has stopped)."""
    out = []
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            out.append(f"{table}: {rows!r}")
    return "\n".join(out)


def parquet_text(path: Path) -> str:
    with duckdb.connect() as conn:
        return repr(conn.execute(f"SELECT * FROM read_parquet('{path}')").fetchall())


def genops(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def ours_of_stderr(stderr: str) -> str:
    """stderr up to the traceback Python prints for the user's uncaught exception."""
    return stderr.split("Traceback (most recent call last)", 1)[0]


def wandb_records(job: Path) -> dict[str, bytes]:
    """The records of the offline run's ``.wandb`` log (W&B's framing: a 7-byte header,
    then 32 KiB blocks of chunks, each ``crc32 u32, length u16, type u8``; type 1 a whole
    record, 2/3/4 its first, middle and last parts) by kind, without the console output
    records (``output``, ``output_raw``: W&B's capture of the user's own console)."""
    from wandb.proto import wandb_internal_pb2

    found: dict[str, bytes] = {}
    for path in sorted(job.glob("wandb/offline-run-*/run-*.wandb")):
        data, pos, record = path.read_bytes(), 7, b""
        while pos + 7 <= len(data):
            if _BLOCK - pos % _BLOCK < 7:  # a block's tail too short for a chunk header
                pos += _BLOCK - pos % _BLOCK
                continue
            _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
            chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
            record = chunk if kind in (1, 2) else record + chunk
            if kind in (1, 4):
                parsed = wandb_internal_pb2.Record.FromString(record)
                name = parsed.WhichOneof("record_type") or "unknown"
                if name not in ("output", "output_raw"):
                    found[name] = found.get(name, b"") + record
    return found


_BLOCK = 32 * 1024


def test_no_canary_reaches_the_ledger_exports_reports_or_our_logs(
    start_processor_with, tmp_path, monkeypatch
):
    web = Web()
    monkeypatch.setenv("GENOPS_TEST_HOOK_URL", f"webhook+{web.url}/{POLICY_CANARIES['env_url']}")
    found: list[str] = []
    try:
        processor = start_processor_with("--policy", _policy(tmp_path, web))
        env = governed_env(processor.endpoint, WANDB_API_KEY=ENV_KEY, GENOPS_ENVIRONMENT="dev")
        env["GENOPS_ENDPOINT"] = processor.endpoint
        job = tmp_path / "job"
        job.mkdir()
        (job / "train.py").write_text(
            TRAINING.replace("__ARG_KEY__", ARG_KEY).replace("__EXC_PASSWORD__", EXC_PASSWORD)
        )
        training = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "train.py"],
            cwd=job,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        # the run fails as the user's program would, with the user's own traceback
        assert training.returncode == 1, training.stderr
        assert "RuntimeError: upload refused" in training.stderr
        assert EXC_PASSWORD in training.stderr  # the user's print, not ours
        run_id = last_json_line(training.stdout)["run_id"]

        reports = run_python(
            REPORTS.replace("__ARG_KEY__", ARG_KEY).replace(
                "__EXPERIMENT_TOKEN__", EXPERIMENT_TOKEN
            ),
            tmp_path / "reports",
            env,
        )
        assert reports.returncode == 0, reports.stderr
        answered = last_json_line(reports.stdout)

        # friendly: the run is recorded, failed, its error kind visible
        runs = {r.run_id: r for r in processor.runs()}
        assert run_id in runs, sorted(runs)
        assert runs[run_id].status == "failed" and runs[run_id].exit_code == 1
        assert answered["failures"], answered
        assert "ValueError" in json.dumps(answered["failures"])
        assert answered["batch"]["results"][0]["status"] == "failed"
        assert answered["batch"]["results"][0]["error"].startswith("ConnectionError: https://svc:")

        admin = {**os.environ, "GENOPS_TOKEN": processor.tokens["admin"]}
        commands = {
            "report --json": ["report", "--json"],
            "report customers": [
                "report", "customers", "--period", dt.date.today().strftime("%Y-%m"), "--csv"
            ],
            "lineage artifact": ["lineage", "canary-model", "--json"],
            "lineage run": ["lineage", run_id, "--json"],
            "retention plan": ["retention", "plan", "--artifact-days", "1", "--json"],
        }  # fmt: skip
        for fmt in ("json", "csv", "parquet"):
            out = tmp_path / f"cli-audit.{fmt}"
            commands[f"audit export {fmt}"] = ["audit", "export", "--format", fmt, "-o", str(out)]
        outputs = {}
        for name, args in commands.items():
            result = genops(*args, "--endpoint", processor.endpoint, env=admin)
            assert result.returncode == 0, (name, result.stderr)
            outputs[name] = result.stdout + result.stderr
        assert "canary-model" in outputs["lineage artifact"]
        assert run_id in outputs["report --json"]

        assert processor.stop() == 0
        log = "".join(processor.log) + processor.proc.stdout.read()

        # -- hostile: search everything ------------------------------------------------
        found += leaks(log, "the processor log")
        ledger_files = sorted(tmp_path.glob("genops.duckdb*"))
        assert ledger_files
        for path in ledger_files:
            found += leaks(path.read_bytes(), path.name)
        found += leaks(duckdb_text(processor.db), "the ledger's tables")
        with duckdb.connect(str(processor.db), read_only=True) as conn:
            (error,) = conn.execute("SELECT error FROM runs WHERE run_id = ?", [run_id]).fetchone()
        assert error.startswith("RuntimeError: upload refused for key "), error
        offline = genops("audit", "export", "--db", str(processor.db), "-o",
                         str(tmp_path / "db-audit.json"), env=admin)  # fmt: skip
        assert offline.returncode == 0, offline.stderr
        exports = [
            *tmp_path.glob("cli-audit.*"),
            tmp_path / "db-audit.json",
            *(tmp_path / "reports").glob("adapter-audit.*"),
        ]
        assert len(exports) == 7, exports
        for path in exports:
            found += leaks(path.read_bytes(), path.name)
            if path.suffix == ".parquet":
                found += leaks(parquet_text(path), f"{path.name} read back")
        written = sorted((tmp_path / "reports").glob("report-*"))
        assert len(written) == 14, written
        for path in written:
            found += leaks(path.read_bytes(), path.name)
        found += leaks(reports.stdout + reports.stderr, "the report script's output")
        for name, text in outputs.items():
            found += leaks(text, f"genops {name}")
        for where in (job, tmp_path / "reports"):
            ours = (where / "our-logs.txt").read_text()
            assert "genops" in ours  # the file really holds our loggers' records
            found += leaks(ours, f"our logs ({where.name})")
        found += leaks(training.stdout, "the training's stdout")
        found += leaks(ours_of_stderr(training.stderr), "the training's stderr (ours)")
        records = wandb_records(job)
        assert {"run", "summary", "artifact"} <= set(records), sorted(records)
        for path in job.glob("wandb/**/debug*.log"):
            found += leaks(path.read_bytes(), f"wandb {path.relative_to(job)}")
        for kind, blob in records.items():
            found += leaks(blob, f"the wandb run's {kind} records")
    finally:
        web.shutdown()
        web.server_close()
    assert found == [], "\n".join(found)


def test_the_processor_redacts_an_error_another_sender_did_not(processor, tmp_path):
    """A run span sent by hand, as an older client or another OTLP sender would, with
    secrets in ``genops.run.error``: the ledger keeps the error redacted, its kind shown."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from genops import attributes as attr
    from tests.helpers import token_of
    from tests.synthetic_spans import export, run_span

    span = run_span("ml-team", run_id="run-leaky", status="failed")
    message = (
        f"OSError: wandb login {ENV_KEY} failed; password={EXC_PASSWORD}, "
        f"url https://bot:{EXPERIMENT_TOKEN}@hub.internal/x"
    )
    span.attributes.append(KeyValue(key=attr.RUN_ERROR, value=AnyValue(string_value=message)))
    export(processor.endpoint, token_of("trainer"), [span])
    runs = {r.run_id: r for r in processor.runs()}
    assert runs["run-leaky"].status == "failed"
    assert processor.stop() == 0
    with duckdb.connect(str(processor.db), read_only=True) as conn:
        (error,) = conn.execute("SELECT error FROM runs WHERE run_id = 'run-leaky'").fetchone()
    assert error == (
        "OSError: wandb login *** failed; password=***, url https://bot:***@hub.internal/x"
    )
    ledger = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("genops.duckdb*")))
    assert leaks(ledger, "the ledger") == []
    assert leaks(duckdb_text(processor.db), "the ledger's tables") == []

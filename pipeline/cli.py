"""The ``pipeline`` command: every process and operator task of the product starts here."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
import yaml

from pipeline.devenv import DevEnvError
from pipeline.runtime.admin import KafkaException
from pipeline.settings import Settings, knobs_markdown


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError or a missing config file
        raise click.ClickException(f"invalid settings: {exc}") from exc


@click.group()
def main() -> None:
    """Alert pipeline on Apache Kafka."""


@main.command("settings")
def settings_command() -> None:
    """Print every setting with its environment variable and default (markdown)."""
    click.echo(knobs_markdown(), nl=False)


# -- local development services --------------------------------------------------------------
@main.group()
def dev() -> None:
    """Local Kafka broker, Redis and PostgreSQL, without Docker (for development, tests and CI)."""


def _broker():
    from pipeline.devenv.kafka import LocalKafka

    return LocalKafka(_settings().dev)


def _redis():
    from pipeline.devenv.redis import LocalRedis

    return LocalRedis(_settings().dev)


def _postgres():
    from pipeline.devenv.postgres import LocalPostgres

    return LocalPostgres(_settings().dev)


def _run(action):
    try:
        return action()
    except DevEnvError as exc:
        raise click.ClickException(str(exc)) from exc


def _broker_up() -> None:
    start = _run(_broker().up)
    if start.already_running:
        click.echo(f"kafka: already running at {start.bootstrap}")
        return
    fetched = "jars downloaded from Maven Central" if start.downloaded_jars else "jars cached, nothing downloaded"
    click.echo(f"kafka: ready at {start.bootstrap} in {start.seconds_to_ready:.2f} s ({fetched})")


def _redis_up() -> None:
    local = _redis()
    seconds = _run(local.up)
    where = local.display_url + (f", TLS {local.tls_url.split('@')[-1]} (CA {local.ca_file})" if local.tls_url else "")
    state = f"ready at {where} in {seconds:.2f} s" if seconds else f"already running at {where}"
    click.echo(f"redis: {state}; {local.client_hint()}")


@dev.command("up")
def dev_up() -> None:
    """Start the broker, Redis and PostgreSQL, then apply the topology and the schema migrations."""
    _broker_up()
    _redis_up()
    _postgres_up()
    _apply(fix_config=False, increase_partitions=False)
    _migrate_dev_database()


@dev.command("down")
def dev_down() -> None:
    """Stop PostgreSQL, Redis and the broker (data is kept)."""
    for name, service in (("postgres", _postgres()), ("redis", _redis()), ("kafka", _broker())):
        click.echo(f"{name}: {'stopped' if _run(service.down) else 'was not running'}")


@dev.command("reset")
@click.confirmation_option(prompt="Delete the local broker's topics, Redis's and PostgreSQL's data?")
def dev_reset() -> None:
    """Stop the services and delete their data (topics, offsets, the ledger, the history); jars are kept.
    `pipeline dev up` then starts empty."""
    for name, service in (("postgres", _postgres()), ("redis", _redis()), ("kafka", _broker())):
        click.echo(f"{name}: {'data deleted' if _run(service.reset) else 'no data to delete'}")


@dev.command("status")
def dev_status() -> None:
    """Show whether the local services run and answer."""
    click.echo(_broker().status())
    click.echo(_redis().status())
    click.echo(_run(_postgres().status))


@dev.group("broker")
def dev_broker() -> None:
    """The local Kafka 3.9.1 KRaft broker."""


@dev_broker.command("fetch")
def broker_fetch() -> None:
    """Download the Kafka jars into the cache (no-op when cached)."""
    broker = _broker()
    downloaded = _run(broker.ensure_jars)
    click.echo(f"kafka jars {'downloaded to' if downloaded else 'already cached in'} {broker.jars_dir}")


dev_broker.command("up")(lambda: _broker_up())
dev_broker.commands["up"].help = "Start the broker and wait until it answers metadata requests."
dev_broker.command("down", help="Stop the broker cleanly.")(
    lambda: click.echo("kafka: " + ("stopped" if _broker().down() else "was not running")))
dev_broker.command("status", help="Show the broker's state.")(lambda: click.echo(_broker().status()))


@dev.group("redis")
def dev_redis() -> None:
    """The local Redis server."""


dev_redis.command("up", help="Start Redis and wait for PING.")(lambda: _redis_up())
dev_redis.command("down", help="Stop Redis.")(
    lambda: click.echo("redis: " + ("stopped" if _redis().down() else "was not running")))
dev_redis.command("status", help="Show Redis's state.")(lambda: click.echo(_redis().status()))


# -- history and its PostgreSQL (issue #15) --------------------------------------------------------
def _postgres_up() -> None:
    start = _run(_postgres().up)
    if start.already_running:
        click.echo(f"postgres: already running at {start.dsn}")
    else:
        first = ", cluster initialized" if start.initialized else ""
        click.echo(f"postgres: ready at {start.dsn} in {start.seconds_to_ready:.2f} s{first}")


def _migrate_dev_database() -> None:
    from pipeline.db.migrate import migrate
    from pipeline.db.pool import DatabaseUnavailable

    # The dev server's own DSN: a changed PIPELINE_DEV__POSTGRES_PORT moves the server, not history.dsn.
    history = _settings().history.model_copy(update={"dsn": _postgres().dsn})
    try:
        before, after = migrate(history)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if before != after:
        click.echo(f"postgres: schema migrated to {', '.join(sorted(after))}")


@dev.group("postgres")
def dev_postgres() -> None:
    """The local PostgreSQL 15 server (Debian's postgresql-15)."""


dev_postgres.command("up", help="Start PostgreSQL (initdb on first use) and wait until it accepts connections.")(
    lambda: _postgres_up())
dev_postgres.command("down", help="Stop PostgreSQL (fast shutdown; data is kept).")(
    lambda: click.echo("postgres: " + ("stopped" if _run(_postgres().down) else "was not running")))
dev_postgres.command("status", help="Show PostgreSQL's state.")(lambda: click.echo(_run(_postgres().status)))


def _add_history_commands() -> None:
    from pipeline.db.commands import db_group
    from pipeline.history.commands import history_group

    main.add_command(db_group)
    main.add_command(history_group)


_add_history_commands()


# -- long-running processes --------------------------------------------------------------------
def _start_component(module_name: str, what: str, *args: str) -> None:
    """Import a process's module and run it; a declared but unbuilt component says so plainly."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise  # a dependency is missing, not the component itself
        raise click.ClickException(f"{what} is declared but not implemented in this version") from exc
    module.run(_settings(), *args)


@main.command("worker")
@click.argument("chain")
def worker(chain: str) -> None:
    """Run one chain of stages of the topology, named after its first stage (normalize, group, sink
    with the default topology; `pipeline topology describe` lists the chains). Run as many workers of
    a chain as its input has partitions."""
    settings = _settings()
    declared = _load_topology(settings)
    chains = {c.name: c for c in declared.chains()}
    if chain not in chains:
        if chain in declared.stages:
            raise click.BadParameter(f"stage {chain!r} runs chained in {declared.chain_of(chain).name!r}: "
                                     f"run `pipeline worker {declared.chain_of(chain).name}`", param_hint="CHAIN")
        raise click.BadParameter(f"{chain!r} is not a chain of {declared.source}; choose from {', '.join(chains)}",
                                 param_hint="CHAIN")
    from pipeline.topology import FEATURES, enabled_features

    needed = chains[chain].requires
    if needed is not None and needed not in enabled_features(settings):
        raise click.ClickException(f"chain {chain!r} requires {needed}, which is off: set {FEATURES[needed]} "
                                   f"(PIPELINE_{FEATURES[needed].upper().replace('.', '__')}=true) to run it")
    from pipeline.db.migrate import SchemaNotCurrent
    from pipeline.db.pool import DatabaseUnavailable
    from pipeline.runtime.worker import run_chain

    try:
        run_chain(chain, settings)
    except (SchemaNotCurrent, DatabaseUnavailable) as exc:
        # The history and flapping stages check the schema before the worker joins its group.
        raise click.ClickException(f"chain {chain!r}: {exc}") from None


@main.command("run")
@click.option("--config.file", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Alertmanager configuration file (as alertmanager --config.file); sets alertmanager_config.")
@click.option("--web.config.file", "web_config_file", type=click.Path(exists=True, dir_okay=False),
              help="Web configuration (TLS, basic auth, tokens, roles) of the bridge; sets web.config_file.")
@click.option("--web.listen-address", "listen_address", metavar="HOST:PORT",
              help="Where the bridge listens (as alertmanager --web.listen-address); sets bridge.host/port.")
@click.option("--topology", "topology_file", type=click.Path(exists=True, dir_okay=False),
              help="Topology file; sets topics.topology_file.")
@click.option("--apply/--no-apply", "apply_topology", default=True, show_default=True,
              help="Create missing topics first (never deletes; drift is reported, not fixed).")
@click.option("--with-sources", is_flag=True, help="Also run the poll and stream sources (pipeline sources run).")
@click.option("--stop-timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              help="Seconds each component gets to stop cleanly on SIGTERM before it is killed.")
def run_all(config_file: str | None, web_config_file: str | None, listen_address: str | None,
            topology_file: str | None, apply_topology: bool, with_sources: bool, stop_timeout: float) -> None:
    """Run the whole topology on this machine: the bridge and a worker per chain (and the sources),
    restarted when one exits, stopped cleanly on SIGTERM. `pipeline worker <chain>` scales out."""
    import os

    overrides = {"PIPELINE_ALERTMANAGER_CONFIG": config_file, "PIPELINE_WEB__CONFIG_FILE": web_config_file,
                 "PIPELINE_TOPICS__TOPOLOGY_FILE": topology_file}
    if listen_address:
        host, sep, port = listen_address.rpartition(":")
        if not sep or not port.isdigit():
            raise click.BadParameter(f"{listen_address!r}: expected HOST:PORT", param_hint="--web.listen-address")
        overrides |= {"PIPELINE_BRIDGE__HOST": host or "0.0.0.0", "PIPELINE_BRIDGE__PORT": port}
    for name, value in overrides.items():
        if value:
            os.environ[name] = str(os.path.abspath(value)) if name.endswith(("CONFIG", "FILE")) else value
    # A long-running installation keeps its tables on disk (bounded memory, fast restarts) unless the
    # store was chosen explicitly; memory:// is for tests and short demos.
    os.environ.setdefault("PIPELINE_WORKER__STORE", "rocksdb://")
    settings = _settings()
    declared = _load_topology(settings)
    _load_am_config(str(settings.alertmanager_config))  # a bad file stops here, before anything starts
    if apply_topology and _apply(False, False):
        click.echo("topology drift reported above is left as it is (pipeline topology apply --fix-config)")
    from pipeline.supervisor import run

    sys.exit(run(settings, declared, with_sources=with_sources, echo=click.echo, stop_timeout_s=stop_timeout))


@main.command("bridge")
@click.option("--web.config.file", "web_config_file", type=click.Path(dir_okay=False),
              help="Web configuration (TLS, basic auth, tokens, roles); sets web.config_file.")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback listen address without authentication; sets web.insecure.")
def bridge(web_config_file: str | None, insecure: bool) -> None:
    """Run the HTTP ingest bridge (and the Alertmanager API v2)."""
    import os

    from pipeline.web.config import RefusedToListen, WebConfigError

    # Through the environment, so every uvicorn worker process reads the same settings.
    if web_config_file:
        os.environ["PIPELINE_WEB__CONFIG_FILE"] = web_config_file
    if insecure:
        os.environ["PIPELINE_WEB__INSECURE"] = "true"
    try:
        _start_component("pipeline.bridge.server", "the HTTP ingest bridge")
    except (WebConfigError, RefusedToListen) as exc:
        raise click.ClickException(str(exc)) from None


# -- web access: credentials for the web configuration file -------------------------------------
@main.group("web")
def web() -> None:
    """Credentials for the web configuration file (web.config_file)."""


@web.command("hash-password")
@click.option("--cost", default=10, show_default=True, type=click.IntRange(10, 16),
              help="bcrypt cost (each +1 doubles the time of every check).")
@click.password_option("--password", prompt="Password", help="Read from a prompt when not given.")
def web_hash_password(cost: int, password: str) -> None:
    """Print the bcrypt hash of a password, for basic_auth_users."""
    import bcrypt

    click.echo(bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode())


@web.command("token")
def web_token() -> None:
    """Print a new random bearer token and its SHA-256 (the hash goes into bearer_tokens, the token to
    the client; it is shown once)."""
    import hashlib
    import secrets

    token = secrets.token_urlsafe(32)
    click.echo(f"token:  {token}")
    click.echo(f"sha256: {hashlib.sha256(token.encode()).hexdigest()}")


@main.command("demo")
@click.option("--keep-running", is_flag=True, help="Leave the bridge and workers running afterwards.")
def demo(keep_running: bool) -> None:
    """Start the built components, send a demo alert through them, print where it arrived."""
    from pipeline.demo import run_demo

    try:
        run_demo(_settings(), echo=click.echo, keep_running=keep_running)
    except (DevEnvError, RuntimeError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc


# -- direct producers and readers ------------------------------------------------------------
@main.command("send")
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--source", default="direct", show_default=True, help="Source name recorded with the alerts.")
def send(file, source: str) -> None:
    """Write alerts from FILE (or stdin) straight to alerts.raw.

    FILE holds one alert or a list, JSON or YAML, in the Alertmanager API v2 shape
    (labels, annotations, startsAt, endsAt, generatorURL). Exit 1 if any alert was invalid.
    """
    from pipeline.runtime.direct_producer import DeliveryError, RawAlertProducer

    text = file.read()
    where = getattr(file, "name", "<stdin>")
    try:
        # YAML is a superset of JSON: one parser for both. Timestamps stay text, as the API takes them.
        alerts = yaml.load(text, Loader=_TimestampsAsTextLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{where}: neither JSON nor YAML: {exc}") from exc
    if not isinstance(alerts, (list, dict)):
        raise click.ClickException(f"{where}: expected an alert object or a list of them")
    try:
        with RawAlertProducer(_settings(), source=source) as producer:
            report = producer.send(alerts)
    except DeliveryError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in report.problems:
        click.echo(f"invalid alert #{problem.index}: {problem.reason}", err=True)
    click.echo(f"sent {report.accepted} alerts to {producer.topic}")
    if report.problems:
        sys.exit(1)


@main.command("tail")
@click.argument("topic")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new records.")
@click.option("--new", is_flag=True, help="Only records written from now on.")
@click.option("--max", "max_records", type=int, help="Stop after this many records.")
@click.option("--match", "--label", "matchers", multiple=True, metavar="LABEL=VALUE",
              help="Only alerts with this label value (repeatable; all must match).")
@click.option("--priority", "priorities", multiple=True, metavar="P0..P4",
              help="Only classified alerts of this priority (repeatable; any may match).")
@click.option("--receiver", "receivers", multiple=True,
              help="Only alerts routed to this receiver (repeatable; any may match).")
def tail(topic: str, follow: bool, new: bool, max_records: int | None, matchers: tuple[str, ...],
         priorities: tuple[str, ...], receivers: tuple[str, ...]) -> None:
    """Print a topic's records decoded with its schema, one JSON object per line.

    With filters, --max counts the records printed."""
    import orjson

    from pipeline.runtime.reader import read_topic

    wanted = dict(_label_pair(m) for m in matchers)
    filtered = bool(wanted or priorities or receivers)
    printed = 0
    try:
        records = read_topic(_settings(), topic, from_beginning=not new, follow=follow,
                             max_records=None if filtered else max_records)
        for record in records:
            labels = _labels_of(record.value)
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            classification = getattr(record.value, "classification", None)
            if priorities and getattr(classification, "priority", None) not in priorities:
                continue
            if receivers and not {r.receiver for r in getattr(record.value, "routes", [])} & set(receivers):
                continue
            click.echo(orjson.dumps(record.as_json()).decode())
            printed += 1
            if filtered and max_records is not None and printed >= max_records:
                break
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


class _TimestampsAsTextLoader(yaml.SafeLoader):
    """SafeLoader that leaves ``2024-01-01T00:00:00Z`` a string instead of a datetime."""


_TimestampsAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _label_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r}: expected LABEL=VALUE", param_hint="--match")
    return name, value


def _labels_of(value) -> dict[str, str]:
    alert = getattr(value, "alert", value)
    return getattr(alert, "labels", None) or {}


# -- Alertmanager configuration ------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """The Alertmanager-format configuration (routes, receivers, inhibit rules)."""


def _load_am_config(path: str):
    from pipeline.amconfig import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@config_group.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def config_check(files: tuple[str, ...]) -> None:
    """Validate configuration files like `amtool check-config` (default: the configured one)."""
    from pipeline.amconfig import check_report

    for path in files or (str(_settings().alertmanager_config),):
        click.echo(f"Checking '{path}'", nl=False)
        config = _load_am_config(path)
        click.echo("  SUCCESS")
        click.echo(check_report(config), nl=False)


@config_group.command("routes")
@click.argument("action", type=click.Choice(["test"]))
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("labels", nargs=-1)
def config_routes(action: str, file: str, labels: tuple[str, ...]) -> None:
    """`routes test FILE label=value …`: the receivers an alert goes to, like amtool prints them."""
    from pipeline.amconfig import parse_label_arguments, routes_test_output
    from pipeline.matchers import MatcherError

    config = _load_am_config(file)
    try:
        parsed = parse_label_arguments(labels)
    except MatcherError as exc:
        raise click.ClickException(f"Failed to parse labels: {exc}") from exc
    click.echo(routes_test_output(config, parsed))


# -- topology ---------------------------------------------------------------------------------
@main.group()
def topology() -> None:
    """Topics and stages declared in the topology file."""


def _load_topology(settings: Settings):
    from pipeline.topology import TopologyError, load_topology

    try:
        return load_topology(settings.topics.topology_file)
    except TopologyError as exc:
        raise click.ClickException(str(exc)) from exc


def _apply(fix_config: bool, increase_partitions: bool) -> int:
    from pipeline.runtime.admin import admin_client
    from pipeline.runtime.topics import apply_topology

    settings = _settings()
    declared = _load_topology(settings)
    try:
        report = apply_topology(
            admin_client(settings.kafka), declared, settings.topics.prefix,
            replication_factor=settings.topics.replication_factor,
            fix_config=fix_config, increase_partitions=increase_partitions,
            timeout=settings.kafka.request_timeout_s * 3,
        )
    except KafkaException as exc:
        raise click.ClickException(f"Kafka at {settings.kafka.bootstrap_servers}: {exc}") from exc
    for name in report.created:
        click.echo(f"created: {name}")
    for drift in report.drift:
        click.echo(str(drift))
    unresolved = len(report.unresolved)
    click.echo(f"topology {declared.source}: {len(report.created)} created, {len(report.unchanged)} unchanged, "
               f"{unresolved} drifted")
    return unresolved


@topology.command("apply")
@click.option("--fix-config", is_flag=True, help="Set drifted topic configs to the declared values.")
@click.option("--increase-partitions", is_flag=True,
              help="Add partitions to topics with fewer than declared (changes key placement).")
def topology_apply(fix_config: bool, increase_partitions: bool) -> None:
    """Create missing topics and report drift; never deletes anything. Exit 3 when drift remains."""
    if _apply(fix_config, increase_partitions):
        sys.exit(3)


@topology.command("acls")
@click.option("--principal", default="User:pipeline", show_default=True,
              help="Kafka principal to grant (one per component: run once per principal with --component).")
@click.option("--component", "components", multiple=True,
              help="Only these components (bridge, sources, 'worker <chain>'); default all.")
def topology_acls(principal: str, components: tuple[str, ...]) -> None:
    """Print the kafka-acls.sh commands granting what each component reads and writes (from the topology)."""
    from pipeline.topology.acls import required_acls

    settings = _settings()
    needs = required_acls(_load_topology(settings), settings.topics.prefix)
    known = sorted({n.component for n in needs})
    unknown = [c for c in components if c not in known]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: choose from {', '.join(known)}", param_hint="--component")
    current = None
    for need in needs:
        if components and need.component not in components:
            continue
        if need.component != current:
            current = need.component
            click.echo(f"# {current}")
        click.echo(need.kafka_acls(principal, settings.kafka.bootstrap_servers))


@topology.command("describe")
@click.option("--offline", is_flag=True, help="Only the declaration; do not ask the cluster.")
def topology_describe(offline: bool) -> None:
    """Print the declared topics and stages, and what the cluster has."""
    from pipeline.durations import format_duration

    settings = _settings()
    declared = _load_topology(settings)
    live = {}
    if not offline:
        from pipeline.runtime.admin import admin_client
        from pipeline.runtime.topics import cluster_state

        names = [settings.topic(n) for n in declared.topics]
        try:
            live = cluster_state(admin_client(settings.kafka), names, settings.kafka.request_timeout_s)
        except KafkaException as exc:
            raise click.ClickException(f"Kafka at {settings.kafka.bootstrap_servers}: {exc}") from exc
    rows = [("topic", "partitions", "rf", "cleanup", "retention", "schema", "cluster")]
    for name, spec in declared.topics.items():
        retention = "forever" if spec.retention_ms < 0 else format_duration(timedelta(milliseconds=spec.retention_ms))
        state = "-" if offline else "missing"
        actual = live.get(settings.topic(name))
        if actual is not None:
            state = f"{actual.partitions}p rf{actual.replication_factor}"
        rows.append((settings.topic(name), str(spec.partitions), str(settings.topics.replication_factor or spec.replication_factor),
                     spec.cleanup_policy, retention, spec.schema_name or "(raw bytes)", state))
    _table(rows)
    click.echo("")
    rows = [("stage", "consumer group", "inputs", "outputs", "tables")]
    for stage in declared.stages.values():
        inputs = list(stage.inputs) + [f"{r} (global)" for r in stage.reads]
        rows.append((stage.name, settings.topics.prefix + stage.consumer_group, ", ".join(inputs),
                     ", ".join(stage.outputs), ", ".join(stage.tables) or "-"))
    _table(rows)


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


# -- dead-lettered notifications (issue #6) ---------------------------------------------------
@main.group("dlq")
def dlq() -> None:
    """Inspect and replay notifications.dlq."""


_DLQ_FILTER_HELP = ("NAME=VALUE, repeatable, all must match: id, receiver, integration, status, group_key, "
                    "error (class), reason (substring), label.<name> (common label).")


def _dlq_entries(filters: tuple[str, ...]):
    from pipeline.delivery.replay import dead_letters, parse_filters

    try:
        return list(dead_letters(_settings(), parse_filters(filters)))
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


@dlq.command("list")
@click.option("--filter", "filters", multiple=True, help=_DLQ_FILTER_HELP)
def dlq_list(filters: tuple[str, ...]) -> None:
    """One JSON line per dead-lettered notification: where, id, receiver, error, reason, attempts."""
    import orjson

    for entry in _dlq_entries(filters):
        click.echo(orjson.dumps(entry.summary()).decode())


@dlq.command("show")
@click.argument("ident")
def dlq_show(ident: str) -> None:
    """The whole record (headers and notification) of a notification id or TOPIC/PARTITION/OFFSET."""
    import orjson

    found = [e for e in _dlq_entries(()) if ident in (e.record.key, e.where)]
    if not found:
        raise click.ClickException(f"{ident}: not in notifications.dlq")
    for entry in found:
        click.echo(orjson.dumps(entry.record.as_json(), option=orjson.OPT_INDENT_2).decode())


@dlq.command("replay")
@click.option("--filter", "filters", multiple=True, help=_DLQ_FILTER_HELP)
@click.option("--to-retry", is_flag=True, help="Send to the first retry tier instead of notifications.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_replay(filters: tuple[str, ...], to_retry: bool, yes: bool) -> None:
    """Re-send dead-lettered notifications (same id: one already delivered is not sent twice)."""
    from pipeline.delivery.replay import replay

    entries = _dlq_entries(filters)
    if not entries:
        click.echo("nothing to replay")
        return
    if not yes:
        click.confirm(f"replay {len(entries)} notifications?", abort=True)
    with click.progressbar(length=len(entries), label="replaying", file=sys.stderr) as bar:
        sent, problems = replay(_settings(), entries, to_retry=to_retry, progress=lambda _: bar.update(1))
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"replayed {sent} of {len(entries)} notifications")
    if problems:
        sys.exit(1)


# -- configuration diff, silence preview (issue #14) ------------------------------------------------
@config_group.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def config_diff(old: str, new: str, output_format: str) -> None:
    """What changed from OLD to NEW (routes, receivers, inhibit rules, time intervals, templates, global),
    in Alertmanager's terms, on the effective configuration. Secrets are never printed.

    Exit 0: no change; 1: changes; 2: a file cannot be loaded."""
    import orjson

    from pipeline.amconfig import ConfigError
    from pipeline.amconfig.diff import load_and_diff

    try:
        diff = load_and_diff(old, new)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if output_format == "json":
        click.echo(orjson.dumps(diff.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(diff.words(), nl=False)
    sys.exit(1 if diff else 0)


@main.group("silence")
def silence_group() -> None:
    """Silences, before they are created."""


@silence_group.command("preview")
@click.option("--matcher", "-m", "matchers", multiple=True, required=True, metavar="MATCHER",
              help='A matcher as amtool takes it (alertname="X", job=~"a|b", env!=dev), or a set '
                   '{a="1",b=~"x"}; repeatable, all must match.')
@click.option("--since", default=None, metavar="DURATION",
              help="How far back to look for notifications it would have muted (default: the bridge's "
                   "silences.preview_since_s, 6h).")
@click.option("--duration", default="1h", show_default=True, metavar="DURATION",
              help="How long the silence would last (its endsAt is now + this).")
@click.option("--comment", default="", help="The silence's comment (the guard's force marker counts here).")
@click.option("--author", default=None, help="createdBy (default: $USER).")
@click.option("--force", is_flag=True, help="Preview as forced past the guard.")
@click.option("--url", default=None, help="The bridge's URL (default: http://<bridge.host>:<bridge.port>).")
@click.option("--header", "headers", multiple=True, metavar="NAME: VALUE",
              help="An extra request header (e.g. for the API's authentication); repeatable.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def silence_preview(matchers: tuple[str, ...], since: str | None, duration: str, comment: str,
                    author: str | None, force: bool, url: str | None, headers: tuple[str, ...],
                    output_format: str) -> None:
    """What a silence would match now and which notifications it would have muted, from the bridge's
    POST /api/v2/silences/preview (nothing is written).

    Exit 0: the guard would accept it; 1: the guard would refuse it; 2: an error."""
    import os
    from datetime import datetime, timezone

    import httpx
    import orjson

    from pipeline.durations import parse_duration
    from pipeline.matchers import MatcherError, MatchType, parse_matchers
    from pipeline.muting.preview import preview_words

    def fail(message: str) -> None:
        click.echo(f"error: {message}", err=True)
        sys.exit(2)

    try:
        parsed = [m for text in matchers for m in parse_matchers(text)]
    except MatcherError as exc:
        fail(f"bad matcher: {exc}")
    try:
        lasting = parse_duration(duration)
    except ValueError as exc:
        fail(f"--duration: {exc}")
    now = datetime.now(timezone.utc)
    body = {
        "matchers": [{"name": m.name, "value": m.value, "isRegex": m.type in (MatchType.REGEX, MatchType.NOT_REGEX),
                      "isEqual": m.type in (MatchType.EQUAL, MatchType.REGEX)} for m in parsed],
        "startsAt": now.isoformat(), "endsAt": (now + lasting).isoformat(),
        "createdBy": author or os.environ.get("USER", "pipeline"), "comment": comment,
    }
    extra_headers = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            fail(f"--header {header!r}: expected NAME: VALUE")
        extra_headers[name.strip()] = value.strip()
    if url is None:
        bridge = _settings().bridge
        host = "127.0.0.1" if bridge.host in ("0.0.0.0", "::", "") else bridge.host
        url = f"http://{host}:{bridge.port}"
    params = {**({"since": since} if since else {}), **({"force": "true"} if force else {})}
    try:
        answer = httpx.post(f"{url.rstrip('/')}/api/v2/silences/preview", json=body, params=params,
                            headers=extra_headers, timeout=120)
    except httpx.HTTPError as exc:
        fail(f"{url}: {exc}")
    if answer.status_code != 200:
        fail(f"{url}: HTTP {answer.status_code}: {answer.text.strip()}")
    result = answer.json()
    if output_format == "json":
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(preview_words(result), nl=False)
    sys.exit(0 if result["guard"]["allowed"] else 1)


# -- what-if replay (issue #14 point 2; pipeline/whatif) ------------------------------------------------
@main.command("whatif")
@click.option("--config", "candidate", required=True, type=click.Path(dir_okay=False),
              help="The candidate Alertmanager configuration (compared with alertmanager_config).")
@click.option("--rules", "candidate_rules", default=None, type=click.Path(dir_okay=False),
              help="A candidate classification file (default: classification.rules_file for both).")
@click.option("--since", default=None, metavar="DURATION", help="The window: the last DURATION (default 24h).")
@click.option("--from", "from_", default=None, metavar="TIME", help="The window's start (RFC 3339), with --to.")
@click.option("--to", "to", default=None, metavar="TIME", help="The window's end (RFC 3339; default now).")
@click.option("--warmup", default="0s", show_default=True, metavar="DURATION",
              help="Replay this much before the window first (groups and alerts already open), not counted.")
@click.option("--input", "kind", type=click.Choice(["raw", "normalized"]), default="raw", show_default=True,
              help="Which recorded topic to replay: alerts.raw (normalize runs too) or alerts.normalized.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on-lost-page", "fail_on", multiple=True, metavar="PRIORITY",
              help="Exit 3 when a page of this priority (e.g. P0) would be lost; repeatable.")
def whatif(candidate: str, candidate_rules: str | None, since: str | None, from_: str | None, to: str | None,
           warmup: str, kind: str, output_format: str, fail_on: tuple[str, ...]) -> None:
    """What the candidate configuration would have done to the traffic Kafka keeps: both configurations
    replayed on simulated time through the real stages, and the difference (notifications per receiver,
    alerts newly silenced or inhibited, pages gained or lost).

    Exit 0: replayed; 2: an error (a configuration does not load, a bad window, the broker);
    3: --fail-on-lost-page P and a page of priority P would be lost."""
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    import orjson

    from pipeline.alertmanager_config import ConfigFileError as ConfigError
    from pipeline.alertmanager_config import load_alertmanager_config
    from pipeline.classification.config import ClassificationFileError, load_classification_file
    from pipeline.durations import parse_duration
    from pipeline.topology import TopologyError, load_topology
    from pipeline.whatif.recorded import read_timeline
    from pipeline.whatif.replay import ReplayOptions, Setup
    from pipeline.whatif.report import EXIT_ERROR, compare

    def fail(message: str) -> None:
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_ERROR)

    def when(text: str, option: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            fail(f"{option} {text!r}: expected an RFC 3339 time such as 2026-01-31T12:00:00Z")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    settings = _settings()
    now = datetime.now(timezone.utc)
    if since is not None and (from_ is not None or to is not None):
        fail("--since and --from/--to are exclusive")
    try:
        lead = parse_duration(warmup)
        if from_ is not None:
            start, end = when(from_, "--from"), (when(to, "--to") if to else now)
        else:
            if to is not None:
                fail("--to needs --from")
            start, end = now - parse_duration(since or "24h"), now
    except ValueError as exc:
        fail(str(exc))
    if end <= start:
        fail(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    if (end - start + lead).total_seconds() > settings.whatif.max_window_s:
        fail(f"the window (warm-up included) is longer than whatif.max_window_s ({settings.whatif.max_window_s:g} s)")
    try:
        rules = load_classification_file(settings.classification.rules_file)
        new_rules = load_classification_file(Path(candidate_rules)) if candidate_rules else rules
    except ClassificationFileError as exc:
        fail(str(exc))
    try:
        current = Setup("current", load_alertmanager_config(settings.alertmanager_config), rules,
                        str(settings.alertmanager_config))
    except ConfigError as exc:
        fail(f"the current configuration does not load: {exc}")
    try:
        proposed = Setup("candidate", load_alertmanager_config(Path(candidate)), new_rules, candidate)
    except ConfigError as exc:
        fail(f"the candidate configuration does not load: {exc}")
    try:
        topology = load_topology(settings.topics.topology_file)
    except TopologyError as exc:
        fail(str(exc))
    if fail_on and not (rules.classification.labels.priority and new_rules.classification.labels.priority):
        fail("--fail-on-lost-page needs the priority label: classification.labels.priority is null in the "
             "classification file, so pages carry no priority")
    try:
        timeline, read = read_timeline(settings, topology, kind, start - lead, end)
    except Exception as exc:  # noqa: BLE001 - the broker's errors (its client's types stay in pipeline.runtime)
        fail(f"reading the recorded traffic: {exc}")
    options = ReplayOptions(tick=timedelta(seconds=settings.group.tick_s),
                            max_flushes_per_tick=settings.group.max_flushes_per_tick,
                            max_record_bytes=settings.max_record_bytes, external_url=settings.group.external_url,
                            max_notifications=settings.whatif.max_notifications,
                            max_notification_bytes=settings.group.max_notification_bytes)
    report = compare(timeline, current, proposed, topology, counted_from=start, options=options, read=read,
                     max_examples=settings.whatif.max_examples)
    if output_format == "json":
        click.echo(orjson.dumps(report.to_json(fail_on), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(report.words(fail_on), nl=False)
    for cap in report.capped:
        click.echo(f"warning: capped ({cap}): the replay covers only part of the window", err=True)
    sys.exit(report.exit_code(fail_on))


# -- alert sources (pipeline/sources): the local NATS server, list, check, run ---------------------------
def _nats():
    from pipeline.devenv.nats import LocalNats

    return LocalNats(_settings().dev)


def _nats_up() -> None:
    local = _nats()
    seconds = _run(local.up)
    click.echo(f"nats: ready at {local.url} in {seconds:.2f} s (JetStream on)" if seconds
               else f"nats: already running at {local.url}")


@dev.group("nats")
def dev_nats() -> None:
    """The local NATS server with JetStream (for the NATS stream source)."""


dev_nats.command("up", help="Start nats-server with JetStream and wait until it answers.")(lambda: _nats_up())
dev_nats.command("down", help="Stop the NATS server.")(
    lambda: click.echo("nats: " + ("stopped" if _nats().down() else "was not running")))
dev_nats.command("status", help="Show the NATS server's state.")(lambda: click.echo(_nats().status()))


@main.group("sources")
def sources_group() -> None:
    """Alert sources: one file per source in bridge.sources_dir (push, poll and stream kinds)."""


_SOURCES_DIR_OPTION = click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=None,
    help="Sources directory (default: bridge.sources_dir, PIPELINE_BRIDGE__SOURCES_DIR).")


def _sources_dir(directory: str | None):
    from pathlib import Path

    return Path(directory) if directory else _settings().bridge.sources_dir


@sources_group.command("list")
@_SOURCES_DIR_OPTION
def sources_list(directory: str | None) -> None:
    """Every source: name, kind, type, whether it runs, where its alerts come from, and which process runs it."""
    from pipeline.sources.check import list_rows
    from pipeline.sources.model import SourceError

    try:
        rows = list_rows(_sources_dir(directory))
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    _table([("name", "kind", "type", "enabled", "runs in", "from"), *rows])


@sources_group.command("check")
@_SOURCES_DIR_OPTION
@click.option("--connect", is_flag=True, help="Also call each enabled poll and stream source's upstream once.")
def sources_check(directory: str | None, connect: bool) -> None:
    """Validate every source file (every problem, with its file and key); with --connect, probe upstreams."""
    from pipeline.sources.check import check_sources

    ok = check_sources(_sources_dir(directory), _settings(), connect=connect, echo=click.echo)
    if not ok:
        sys.exit(1)


@sources_group.command("run")
@click.argument("names", nargs=-1)
def sources_run(names: tuple[str, ...]) -> None:
    """Run the enabled poll and stream sources (all, or those NAMES) with /healthz, /readyz, /metrics."""
    from pipeline.sources.model import SourceError
    from pipeline.sources.runner import run

    try:
        run(_settings(), only=names)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()

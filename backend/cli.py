"""`lindra serve | worker | migrate | demo | admin create`: the one entry point a municipality needs."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import signal
import sys
import uuid
from pathlib import Path

from backend.config import Settings
from backend.db import migrate, start_embedded
from backend.logs import configure_logging


def _database_url(settings: Settings) -> str:
    """DATABASE_URL when given; otherwise the embedded PostgreSQL in the data folder."""
    if settings.database_url:
        return settings.database_url
    print(f"Starting the embedded PostgreSQL in {settings.data_dir / 'pg'} ...", flush=True)
    return start_embedded(settings.data_dir)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    settings = Settings.from_env(**overrides)
    return Settings.from_env(**overrides, database_url=_database_url(settings))


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    migrate(settings.database_url)
    print("Migrations applied.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from backend.demo import load_demo, print_logins

    settings = _settings(args)
    migrate(settings.database_url)
    loaded = asyncio.run(load_demo(settings.database_url, reset=args.reset))
    print("Demo municipality loaded." if loaded else "Demo data already present (use --reset to reload).")
    print_logins()
    return 0


def _typed_twice(prompt: str) -> str | None:
    """Typed twice at a terminal (never echoed, never an argument `ps` would show), or one line on
    stdin; None when the two typed differ."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    value = getpass.getpass(f"{prompt}: ")
    return value if getpass.getpass("The same again: ") == value else None


def cmd_admin_create(args: argparse.Namespace) -> int:
    """The first administrator of a palliative unit, regional team or new municipality."""
    from backend.clock import Clock
    from backend.people.operator import OperatorError, create_admin

    password = _typed_twice("Password for the new administrator")
    if password is None:
        print("No administrator created: the two passwords differ.", file=sys.stderr)
        return 1
    settings = _settings(args)
    migrate(settings.database_url)
    try:
        user_id = asyncio.run(
            create_admin(settings.database_url, args.organisation, args.email, args.name, password, Clock().now())
        )
    except OperatorError as error:
        print(f"No administrator created: {error}", file=sys.stderr)
        return 1
    print(f"Administrator {user_id} created; she signs in as {args.email}.")
    return 0


def cmd_client_create(args: argparse.Namespace) -> int:
    """A municipality's message broker (delivers MedCom messages) or its care-record system (reads
    cases as FHIR); its secret is shown once."""
    from backend.messages.clients import create_client_as_operator
    from backend.messages.models import ClientRole

    settings = _settings(args)
    migrate(settings.database_url)
    try:
        client_id, secret = asyncio.run(
            create_client_as_operator(
                settings.database_url, args.municipality, args.name, args.ack_url, ClientRole(args.role)
            )
        )
    except ValueError as error:
        print(f"No client created: {error}", file=sys.stderr)
        return 1
    print(f"System client {client_id} created. Its secret, shown only now:\n{secret}")
    return 0


def cmd_export_secret_set(args: argparse.Namespace) -> int:
    """The municipality's own pseudonym secret for the national data set (read like a password)."""
    from backend.exports.pseudonyms import set_secret_as_operator

    secret = _typed_twice("The municipality's pseudonym secret")
    if secret is None:
        print("No secret set: the two differ.", file=sys.stderr)
        return 1
    settings = _settings(args)
    migrate(settings.database_url)
    try:
        asyncio.run(set_secret_as_operator(settings.database_url, args.municipality, secret.encode()))
    except ValueError as error:
        print(f"No secret set: {error}", file=sys.stderr)
        return 1
    print("Pseudonym secret set: from the next export on, every citizen has a new pseudonym.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.demo import load_demo, print_logins
    from backend.worker import WorkerProcess, free_port

    settings = _settings(args).with_secret()
    migrate(settings.database_url)
    if not args.no_demo:
        if asyncio.run(load_demo(settings.database_url, reset=False)):
            print("Demo municipality loaded.")
    base = f"http://{args.host}:{args.port}"
    print(
        f"\nLindra is running:\n  API        {base}/\n  API docs   {base}/schema\n"
        f"  OpenAPI    {base}/schema/openapi.json\n  Health     {base}/health  {base}/ready\n"
    )
    print_logins()
    print("\nPress Ctrl-C to stop.", flush=True)
    # `kill` (SIGTERM) should stop as cleanly as Ctrl-C: exit through Python so the embedded
    # PostgreSQL is shut down by its exit handler instead of being left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # The sweeps, jobs and pushes run in a worker process of their own (see backend/worker.py).
    worker = None
    if settings.housekeeping and not args.no_worker:
        settings = dataclasses.replace(settings, worker_metrics_port=free_port())
        worker = WorkerProcess(settings.database_url, settings.worker_metrics_port)
        worker.start()
    try:
        # log_config=None: uvicorn's own lines (access log included) go through our handler and format.
        # Frames are small JSON sent to many sockets: compressing each one per socket costs more than it saves.
        uvicorn.run(
            create_app(dataclasses.replace(settings, housekeeping=False)),
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=True,
            ws_per_message_deflate=False,
        )
    finally:
        if worker is not None:
            worker.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from backend.worker import run

    settings = Settings.from_env()
    if not settings.database_url:
        print("lindra worker needs DATABASE_URL: the database of the instances it works for.", file=sys.stderr)
        return 2
    run(settings, parent_pid=args.parent)
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(prog="lindra", description="Lindra: safe death at home.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, load the demo municipality once, and serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", default=None, help="folder for the embedded PostgreSQL (default .lindra)")
    serve.add_argument("--no-demo", action="store_true", help="do not load the demo municipality")
    serve.add_argument(
        "--no-worker", action="store_true", help="serve only; the background work runs in `lindra worker` elsewhere"
    )
    serve.set_defaults(func=cmd_serve)

    work = sub.add_parser("worker", help="run the sweeps, scheduled jobs and push sender (needs DATABASE_URL)")
    work.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # stop when this process is gone
    work.set_defaults(func=cmd_worker)

    mig = sub.add_parser("migrate", help="apply the database migrations")
    mig.add_argument("--data-dir", default=None)
    mig.set_defaults(func=cmd_migrate)

    demo = sub.add_parser("demo", help="load the demo municipality")
    demo.add_argument("--reset", action="store_true", help="delete all data first, then load the demo")
    demo.add_argument("--data-dir", default=None)
    demo.set_defaults(func=cmd_demo)

    admin = sub.add_parser("admin", help="administrators the API cannot make").add_subparsers(
        dest="admin_command", required=True
    )
    create = admin.add_parser(
        "create", help="create an organisation's first administrator (the password is read from the terminal)"
    )
    create.add_argument("--organisation", type=uuid.UUID, required=True, help="municipality, unit or team id")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="her full name")
    create.add_argument("--data-dir", default=None)
    create.set_defaults(func=cmd_admin_create)

    clients = sub.add_parser(
        "client", help="system clients (a municipality's message broker, care-record system)"
    ).add_subparsers(dest="client_command", required=True)
    broker = clients.add_parser(
        "create", help="create a message broker's client for the MedCom inbox, or a care-record system's"
    )
    broker.add_argument("--municipality", type=uuid.UUID, required=True)
    broker.add_argument("--name", required=True)
    broker.add_argument("--ack-url", default=None, help="where the broker takes acknowledgements (HTTP POST)")
    broker.add_argument(
        "--role",
        choices=["inbox", "care_record"],
        default="inbox",
        help="inbox: delivers MedCom messages; care_record: reads the municipality's cases as FHIR",
    )
    broker.add_argument("--data-dir", default=None)
    broker.set_defaults(func=cmd_client_create)

    secrets = sub.add_parser("export-secret", help="the national data set's pseudonym secret").add_subparsers(
        dest="secret_command", required=True
    )
    secret = secrets.add_parser("set", help="set a municipality's secret (read from the terminal or stdin)")
    secret.add_argument("--municipality", type=uuid.UUID, required=True)
    secret.add_argument("--data-dir", default=None)
    secret.set_defaults(func=cmd_export_secret_set)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""``tog serve``: the REST API on uvicorn (see :mod:`agent.server`)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default TOG_SERVER_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TOG_SERVER_PORT or 8000).")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback bind without API keys.")] = False,
    workers: Annotated[int | None, typer.Option(help="Tasks run at once (default TOG_SERVER_WORKERS or 2).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the agent over HTTP: POST /v1/tasks, follow /v1/tasks/{id}/events, docs at /docs.

    Without API keys (TOG_SERVER_API_KEYS) the server only binds loopback, unless --insecure is given.
    """
    from pydantic import ValidationError
    from rich.console import Console

    from agent.config import ToGSettings
    from agent.server.config import ServerSettings

    errors = Console(stderr=True)
    updates = {k: v for k, v in dict(host=host, port=port, workers=workers).items() if v is not None}
    if insecure:
        updates["insecure"] = True
    try:
        settings = ToGSettings()
        server = ServerSettings.model_validate({**settings.server.model_dump(), **updates})  # checked like the env
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        errors.print(f"[bold red]error:[/] bad settings: {problems}", highlight=False)
        raise typer.Exit(2) from None
    settings = settings.model_copy(update={"server": server})
    problem = server.bind_problem()
    if problem:
        errors.print(f"[bold red]error:[/] {problem}", highlight=False)
        raise typer.Exit(2)
    import uvicorn

    from agent.server.app import create_app

    errors.print(
        f"ToG serving on http://{server.host}:{server.port} (docs at /docs; "
        f"auth {'on' if server.api_keys else 'off'}; data in {settings.agent.data_dir})"
    )
    uvicorn.run(create_app(settings), host=server.host, port=server.port, log_level=log_level)

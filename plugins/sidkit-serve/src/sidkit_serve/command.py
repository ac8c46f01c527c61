"""``sidkit serve RUN``: the click command the plugin adds to the ``sidkit`` CLI."""

from __future__ import annotations

from pathlib import Path

import click
from sidkit.cli import command_registry, decoder_set_option


@click.command("serve")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True, help="Histories per decoder call.")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="How long a request waits for others to share its decoder call.")
@click.option("--max-body-kb", type=click.IntRange(min=1), default=256, show_default=True, help="Larger request bodies get 413.")
@click.option("--max-k", type=click.IntRange(min=1), default=1000, show_default=True, help="Largest k a request may ask for.")
@decoder_set_option
def serve(
    run_dir: Path, host: str, port: int, max_batch: int, max_wait_ms: float, max_body_kb: int, max_k: int,
    decoder_sets: tuple[str, ...],
) -> None:
    """Serve the model in RUN_DIR as JSON over HTTP: POST /recommend, GET /health, GET /info."""
    import uvicorn
    from sidkit.serving import load_run

    from .app import create_app

    run = load_run(run_dir, registry=command_registry(), decoder_overrides=decoder_sets)
    app = create_app(run, max_batch=max_batch, max_wait_ms=max_wait_ms, max_body_bytes=max_body_kb * 1024, max_k=max_k)
    click.echo(f"serving {run_dir} ({len(run.item_ids)} items) on http://{host}:{port}  (POST /recommend, GET /health, GET /info)")
    uvicorn.run(app, host=host, port=port, log_level="warning")

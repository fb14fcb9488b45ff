"""The service's own routes: liveness, counts and models, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shelf import __version__
from shelf.engine import Engine
from shelf.serve.schemas import Health, Stats
from shelf.train.progress import read_status

PUBLIC_TRAINING_FIELDS = ("state", "model", "epoch", "max_epochs", "val_ndcg@10", "eta_s",
                          "elapsed_s", "updated")  # fmt: skip

router = APIRouter()


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/health", response_model=Health, tags=["service"])
def health(request: Request) -> Health:
    """Liveness: the service is up, and whether it needs API keys."""
    gate = request.app.state.gate
    settings = engine_of(request).settings
    training = read_status(settings.data_dir)
    if training is not None:
        training = {k: v for k, v in training.items() if k in PUBLIC_TRAINING_FIELDS}
    return Health(
        status="ok",
        version=__version__,
        access="open" if gate.open else "keys",
        training=training,
        notice=settings.page_notice,
    )


@router.get("/stats", response_model=Stats, tags=["service"])
def stats(request: Request) -> Stats:
    """Counts of items, users and events by type; the serving models."""
    return Stats(stats=engine_of(request).stats())


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency per route, events ingested, model versions."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

"""The ``shelf`` command line: import, serve, demo, search, train, recommend, eval."""

from __future__ import annotations

import typer

from shelf.recommend.commands import register as register_recommend
from shelf.search.commands import register as register_search

app = typer.Typer(
    name="shelf",
    help="shelf: product search and recommendations for an online store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Offline evaluation under the frozen protocols.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

register_search(app, eval_app)
register_recommend(app, eval_app)


def main() -> None:
    app()

"""The Typer application every command module registers itself on."""

import typer

app = typer.Typer(
    name="talent-tagger",
    help="Tag entities and metrics and classify talent measures (引才/育才/留才) in Chinese talent-policy news.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Tag entities and metrics and classify talent measures in Chinese talent-policy news."""

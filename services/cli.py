"""The `duban` operator command."""


def main() -> None:
    raise SystemExit("not yet")

"""Launcher for a checkout: python cli.py score "a" "b" (the installed command is siamese-text)."""
from siamese_text.cli import app

if __name__ == "__main__":
    app(prog_name="siamese-text")

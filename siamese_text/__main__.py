"""python -m siamese_text"""

from siamese_text.cli import app

app(prog_name="siamese-text")

from followback.cli import app

app()

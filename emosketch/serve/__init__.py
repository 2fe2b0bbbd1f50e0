"""`emosketch serve`: the emotion mirror, a local web app and JSON API (engine.py: the models and
sessions; app.py: the routes; static/: the page)."""

"""An example support console wired through Sentinelle's client kit (``sentinelle.client``).

A small FastAPI application with fake customers, orders and tickets in memory: every page that
shows customer data asks Sentinelle first (``@guard.shows``), is refused without an allowed
decision, and masks what the decision hides. See ``README.md`` here.
"""

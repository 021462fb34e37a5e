"""modocr's database: ORM models, engine and error seam, typed queries (SQLAlchemy 2.0, async)."""

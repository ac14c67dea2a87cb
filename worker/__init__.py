"""Workers: the Celery app (production) and in-process threads (embedded)."""

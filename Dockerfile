# modocr image: the daemon, the review UI and the CLI (Python 3.11, no build tools at runtime).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 modocr
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
USER modocr
ENTRYPOINT ["modocr"]
CMD ["--help"]

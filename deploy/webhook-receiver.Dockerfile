# The example webhook receiver of deploy/compose.yaml: the Python SDK and its
# agent_webhook.py example, which verifies every request before handling it.
FROM python:3.12-slim
COPY sdk/python /sdk
RUN pip install --no-cache-dir /sdk && useradd --system --no-create-home receiver
USER receiver
EXPOSE 8000
CMD ["python3", "/sdk/examples/agent_webhook.py", "serve", "--listen", "0.0.0.0:8000"]

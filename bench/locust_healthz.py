"""The generator baseline: bare FastHttpUsers looping ``GET /healthz`` with no wait."""

from locust import FastHttpUser, constant, task


class HealthzLoop(FastHttpUser):
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz")

"""Simulate people using a to-do app against the Tasks service, with locust.

Each simulated user owns a user_id of their own (unique per run) and does what a person does
in a to-do app, with think time between clicks: opens the list most often, opens a task, adds
tasks (with tags, a priority and sometimes a due date), renames one, ticks one off or back on,
looks at what is pending or at one tag, and now and then deletes a task.

locust is not in requirements-dev.txt (it is heavy); install it on its own, e.g.

    python3 -m venv /tmp/locust-venv && /tmp/locust-venv/bin/pip install locust

and run, from the repository root, against a server you started:

    locust -f tests/load/locustfile.py --headless -u 50 -r 10 -t 1m --host http://127.0.0.1:8000

(-u users, -r users started per second, -t run time; add --csv bench/out/locust to keep the
figures, drop --headless for the web UI on http://127.0.0.1:8089.)

Safety: only loopback hosts (127.0.0.0/8, ::1) are loaded unless LOCUST_ALLOW_REMOTE=1, and a
headless run without -t stops after DEFAULT_RUN_TIME_S. Filters (status, tag, sort) are
contract features; a server that rejects them answers 422 and locust counts failures there.
Requests are named by route ("/api/[user]/tasks/[id]"), so the statistics group per endpoint.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import random
import secrets
import socket
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import HttpUser, between, events, task
from locust.exception import StopUser

DEFAULT_RUN_TIME_S = 60
RUN_ID = secrets.token_hex(3)  # user ids unique per run, so runs never share data
TAGS = ("home", "work", "errands", "urgent", "someday", "health")
TITLES = ("Buy milk", "Call the bank", "Book dentist", "Pay rent", "Fix the bike", "Read a book")
COLLECTION = "/api/[user]/tasks"
ITEM = "/api/[user]/tasks/[id]"

_user_numbers = itertools.count(1)
log = logging.getLogger("tasks-locust")


def loopback_only(url: str | None) -> str | None:
    """Return why `url` must not be loaded, or None when it is a loopback target (or allowed)."""
    if os.environ.get("LOCUST_ALLOW_REMOTE") == "1":
        return None
    host = urllib.parse.urlsplit(url or "").hostname
    if not host:
        return f"no host in {url!r}"
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc}"
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote:
        return f"{host} is not loopback ({', '.join(remote)}); set LOCUST_ALLOW_REMOTE=1 to allow"
    return None


@events.init.add_listener
def enforce_limits(environment: Any, **_kwargs: Any) -> None:
    """Refuse a non-loopback --host and give a headless run without -t a run time."""
    reason = loopback_only(environment.host) if environment.host else None
    if reason:
        raise SystemExit(f"locustfile: refusing to load: {reason}")  # locust exits on this
    options = environment.parsed_options
    if options and options.headless and not options.worker and not options.run_time:
        log.warning("no -t/--run-time given: stopping after %s s", DEFAULT_RUN_TIME_S)
        options.run_time = DEFAULT_RUN_TIME_S


def new_task_body(rng: random.Random) -> dict[str, Any]:
    """Return a task as a person would enter it: a title, maybe tags, a priority, a due date."""
    body: dict[str, Any] = {
        "title": f"{rng.choice(TITLES)} #{rng.randint(1, 999)}",
        "priority": rng.choices(("low", "normal", "high"), weights=(2, 6, 2))[0],
        "tags": rng.sample(TAGS, k=rng.choice((0, 1, 1, 2))),
    }
    if rng.random() < 0.4:
        due = datetime.now(UTC) + timedelta(days=rng.randint(-2, 14), hours=rng.randint(0, 23))
        body["due_at"] = due.isoformat()
    if rng.random() < 0.3:
        body["description"] = "Remember to check the details first."
    return body


class TodoUser(HttpUser):
    """One person with their own task list."""

    wait_time = between(1, 4)  # think time between clicks

    def on_start(self) -> None:
        """Pick this user's id and start with a few tasks, as a returning user would have."""
        reason = loopback_only(self.host)  # the web UI can change the host after start-up
        if reason:
            log.error("refusing to load: %s", reason)
            raise StopUser()
        self.rng = random.Random()
        self.user_id = f"locust-{RUN_ID}-{next(_user_numbers)}"
        self.collection = f"/api/{self.user_id}/tasks"
        self.task_ids: list[str] = []
        for _ in range(3):
            self.add_task()

    def _pick(self) -> str | None:
        return self.rng.choice(self.task_ids) if self.task_ids else None

    def _remember(self, response: Any) -> None:
        if response.ok:
            self.task_ids = [t["id"] for t in response.json()]

    @task(10)
    def open_list(self) -> None:
        """Open the task list (the app's home screen)."""
        self._remember(self.client.get(self.collection, name=COLLECTION))

    @task(4)
    def open_task(self) -> None:
        """Open one task's details."""
        task_id = self._pick()
        if task_id:
            self.client.get(f"{self.collection}/{task_id}", name=ITEM)

    @task(3)
    def add_task(self) -> None:
        """Add a task with tags, a priority and sometimes a due date."""
        response = self.client.post(self.collection, json=new_task_body(self.rng), name=COLLECTION)
        if response.status_code == 201:
            self.task_ids.append(response.json()["id"])

    @task(2)
    def rename_task(self) -> None:
        """Change a task's title."""
        task_id = self._pick()
        if task_id:
            title = f"{self.rng.choice(TITLES)} (edited {self.rng.randint(1, 99)})"
            self.client.patch(f"{self.collection}/{task_id}", json={"title": title}, name=ITEM)

    @task(4)
    def tick_off(self) -> None:
        """Toggle a task's completed flag (the checkbox)."""
        task_id = self._pick()
        if task_id:
            self.client.patch(f"{self.collection}/{task_id}/complete", name=f"{ITEM}/complete")

    @task(3)
    def show_pending(self) -> None:
        """Show what is left to do, newest first."""
        self.client.get(
            self.collection,
            params={"status": "pending", "sort": "-created_at"},
            name=f"{COLLECTION}?status=pending&sort=-created_at",
        )

    @task(2)
    def show_tag(self) -> None:
        """Show the tasks carrying one tag."""
        self.client.get(
            self.collection, params={"tag": self.rng.choice(TAGS)}, name=f"{COLLECTION}?tag=[tag]"
        )

    @task(1)
    def delete_task(self) -> None:
        """Delete a task."""
        task_id = self._pick()
        if task_id:
            response = self.client.delete(f"{self.collection}/{task_id}", name=ITEM)
            if response.ok:
                self.task_ids.remove(task_id)

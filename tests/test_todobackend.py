"""The todobackend.com conformance checks, as our own tests, with root = /api/{user_id}/tasks.

The upstream suite runs in a browser on another origin, so every request here carries an
Origin and every response must carry the CORS headers a browser needs to read it.
"""

from __future__ import annotations

import pytest

ORIGIN = "https://www.todobackend.com"


class Client:
    """A cross-origin client of one user's root, checking CORS on every response."""

    def __init__(self, app, root: str) -> None:
        self.app = app
        self.root = root

    def _check(self, resp):
        assert resp.headers["Access-Control-Allow-Origin"] in ("*", ORIGIN)
        exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Location", "Link", "X-Request-ID"} <= exposed
        return resp

    def get(self, url: str, status: int = 200):
        return self._check(self.app.get(url, headers={"Origin": ORIGIN}, status=status))

    def post(self, url: str, body: dict, status: int = 201):
        return self._check(self.app.post_json(url, body, headers={"Origin": ORIGIN}, status=status))

    def patch(self, url: str, body: dict, status: int = 200):
        return self._check(
            self.app.patch_json(url, body, headers={"Origin": ORIGIN}, status=status)
        )

    def delete(self, url: str, status: int = 200):
        return self._check(self.app.delete(url, headers={"Origin": ORIGIN}, status=status))

    def preflight(self, url: str, method: str):
        return self._check(
            self.app.options(
                url,
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "content-type",
                },
            )
        )


@pytest.fixture
def client(app, user_id) -> Client:
    """Return a cross-origin client of a fresh user's root."""
    return Client(app, f"/api/{user_id}/tasks")


def test_the_root_responds_to_a_get(client):
    resp = client.get(client.root)
    assert resp.json == []


def test_the_root_responds_to_a_post_with_the_todo_which_was_posted(client):
    todo = client.post(client.root, {"title": "a todo"}).json
    assert todo["title"] == "a todo"


def test_the_root_responds_successfully_to_a_delete_and_is_then_empty(client):
    client.post(client.root, {"title": "first"})
    client.post(client.root, {"title": "second"})
    client.delete(client.root)
    assert client.get(client.root).json == []


def test_a_browser_may_preflight_every_verb_the_suite_uses(client):
    todo = client.post(client.root, {"title": "preflight"}).json
    for url, method in ((client.root, "POST"), (client.root, "GET")):
        assert method in client.preflight(url, method).headers["Access-Control-Allow-Methods"]
    for method in ("GET", "PATCH", "DELETE"):
        allowed = client.preflight(todo["url"], method).headers["Access-Control-Allow-Methods"]
        assert method in allowed


def test_new_todos_are_added_to_the_list_at_the_root(client):
    titles = [f"todo {i}" for i in range(5)]
    for title in titles:
        client.post(client.root, {"title": title})
    assert sorted(t["title"] for t in client.get(client.root).json) == sorted(titles)


def test_a_new_todo_is_initially_not_completed(client):
    assert client.post(client.root, {"title": "walk the dog"}).json["completed"] is False


def test_each_new_todo_has_an_absolute_url_which_returns_the_todo(client):
    todo = client.post(client.root, {"title": "blah"}).json
    assert todo["url"].startswith("http://tasks.test/api/")
    assert client.get(todo["url"]).json == todo


def test_can_navigate_from_the_list_to_an_individual_todo_via_urls(client):
    client.post(client.root, {"title": "todo the first"})
    client.post(client.root, {"title": "todo the second"})
    listed = client.get(client.root).json
    assert len(listed) == 2
    fetched = client.get(listed[0]["url"]).json
    assert fetched["title"] == listed[0]["title"]


def test_can_change_the_title_by_patching_the_url_and_it_persists(client):
    url = client.post(client.root, {"title": "initial title"}).json["url"]
    assert client.patch(url, {"title": "bathe the cat"}).json["title"] == "bathe the cat"
    assert client.get(url).json["title"] == "bathe the cat"


def test_can_change_completedness_by_patching_the_url_and_it_persists(client):
    url = client.post(client.root, {"title": "initial title"}).json["url"]
    assert client.patch(url, {"completed": True}).json["completed"] is True
    assert client.get(url).json["completed"] is True


def test_changes_to_a_todo_show_up_when_refetching_the_list(client):
    url = client.post(client.root, {"title": "initial title"}).json["url"]
    client.patch(url, {"title": "changed title", "completed": True})
    (todo,) = client.get(client.root).json
    assert (todo["title"], todo["completed"]) == ("changed title", True)


def test_can_delete_a_todo_by_deleting_its_url(client):
    url = client.post(client.root, {"title": "doomed"}).json["url"]
    client.delete(url)
    assert client.get(client.root).json == []
    client.get(url, status=404)


def test_can_create_a_todo_with_an_order_field(client):
    assert client.post(client.root, {"title": "blah", "order": 523}).json["order"] == 523


def test_can_patch_a_todo_to_change_its_order_and_it_persists(client):
    url = client.post(client.root, {"title": "blah", "order": 10}).json["url"]
    assert client.patch(url, {"order": 95}).json["order"] == 95
    assert client.get(url).json["order"] == 95

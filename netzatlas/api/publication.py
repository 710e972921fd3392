"""Publishing a coverage run's aggregates for everyone: POST (publish) and DELETE (withdraw) on
/jobs/{job_id}/publication, for planner and admin keys (netzatlas.coverage.publication says what opens)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from netzatlas.api.auth import principal, unauthorized
from netzatlas.api.errors import ApiError, not_found
from netzatlas.api.negotiation import json_response
from netzatlas.coverage import publication

router = APIRouter()


async def _change(request: Request, job_id: str, published: bool) -> Response:
    who = await principal(request)
    if who.role == "anonymous":
        raise unauthorized("publishing a run needs a planner or admin key")
    if who.role not in ("planner", "admin"):
        raise ApiError(403, "Forbidden", "publishing a run needs a planner or admin key")
    try:
        row = await run_in_threadpool(publication.publish, request.app.state.database_url, job_id, who.actor, published)
    except publication.PublicationError as e:
        if str(e).startswith("no run"):
            raise not_found(str(e)) from None
        raise ApiError(409, "Conflict", str(e)) from None
    return json_response(
        {
            "jobID": str(row["id"]),
            "sensitivity": row["sensitivity"],
            "published": row["published_at"].isoformat() if row["published_at"] else None,
            "publishedBy": row["published_by"],
            "public": ["cells", "districts", "statistics"] if row["published_at"] else [],
        }
    )


@router.post("/jobs/{job_id}/publication", tags=["processes"])
async def publish(request: Request, job_id: str) -> Response:
    """Publish the run's aggregates (100 m cells, district shares, statistics) for everyone."""
    return await _change(request, job_id, True)


@router.delete("/jobs/{job_id}/publication", tags=["processes"])
async def withdraw(request: Request, job_id: str) -> Response:
    """Withdraw a publication: the run is again as confidential as its inputs."""
    return await _change(request, job_id, False)

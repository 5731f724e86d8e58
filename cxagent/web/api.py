"""The REST API: incidents, their RCA, recommendations and experiment plan, and the agent."""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.service import MAX_QUESTION_CHARS
from cxagent.web.feedback_view import record_feedback
from cxagent.web.summary import pm_summary
from cxagent.web.workbench import Analysis, UnknownIncident, Workbench
from tools.base import ToolError
from watching.feedback import FeedbackRequest, FeedbackStore

MARKDOWN = "text/markdown; charset=utf-8"
THREAD_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class AskRequest(BaseModel):
    """A question for the agent; give the same thread_id to follow up on earlier answers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, examples=["why did CX drop on Jan 4?"]
    )
    thread_id: str | None = Field(
        default=None,
        pattern=THREAD_ID,
        description="Conversation id (a new one is made when absent).",
    )


def json_safe(value: Any) -> Any:
    """JSON-encodable, with NaN and infinities as null (JSON has no such numbers)."""
    encoded = jsonable_encoder(value)

    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {key: clean(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [clean(inner) for inner in item]
        return item

    return clean(encoded)


def _respond(value: Any) -> JSONResponse:
    return JSONResponse(json_safe(value))


def _evidence(analysis: Analysis) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in analysis.context.ledger.items]


def build_router(workbench: Workbench) -> APIRouter:
    """The /api routes over one workbench."""
    router = APIRouter(prefix="/api", tags=["cx-agent"])
    routes = (_overview_routes, _analysis_routes, _document_routes, _feedback_routes, _agent_routes)
    for add_routes in routes:
        add_routes(router, workbench)
    return router


def _known(workbench: Workbench, incident_id: str) -> None:
    """Raise a 404 for an incident id the detector did not report."""
    try:
        workbench.incident(incident_id)
    except UnknownIncident as error:
        raise HTTPException(status_code=404, detail=str(error)) from None


def _overview_routes(router: APIRouter, workbench: Workbench) -> None:
    """/health, /incidents and /incidents/{id}: the world and what its detector found."""

    @router.get("/health")
    def health() -> JSONResponse:
        """Liveness, the world served and its data span."""
        overview = workbench.overview()
        return _respond(
            {
                "status": "ok",
                "world": str(workbench.world_dir),
                "backend": workbench.agent.backend.name,
                "data_start": overview.detection.data_start,
                "data_end": overview.detection.data_end,
                "incidents": len(overview.detection.incidents),
            }
        )

    @router.get("/incidents")
    def incidents() -> JSONResponse:
        """Incidents detected on the hourly series, most severe first."""
        detection = workbench.overview().detection
        return _respond(
            {
                "as_of": detection.as_of,
                "series_scanned": detection.series_scanned,
                "incidents": [i.model_dump() for i in detection.incidents],
            }
        )

    @router.get("/incidents/{incident_id}")
    def incident(incident_id: str) -> JSONResponse:
        """One incident and the slices that carry its drop."""
        _known(workbench, incident_id)
        try:
            slices, item = workbench.slices(incident_id)
        except ToolError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return _respond(
            {
                "incident": workbench.incident(incident_id).model_dump(),
                "slices": slices.model_dump(),
                "evidence": item.model_dump(mode="json"),
            }
        )


def _analysis_routes(router: APIRouter, workbench: Workbench) -> None:
    """/rca and /recommendations of an incident (JSON)."""

    @router.get("/rca/{incident_id}")
    def rca(incident_id: str) -> JSONResponse:
        """Root-cause analysis: ranked causes, the Markdown report and its evidence."""
        _known(workbench, incident_id)
        analysis = workbench.analysis(incident_id)
        causes = analysis.investigation.causes
        return _respond(
            {
                "incident_id": incident_id,
                "causes": [c.model_dump() for c in causes.causes] if causes else [],
                "causes_evidence": analysis.investigation.causes_id,
                "report": analysis.report,
                "evidence": _evidence(analysis),
                "notes": analysis.investigation.notes,
            }
        )

    @router.get("/recommendations/{incident_id}")
    def recommendations(incident_id: str) -> JSONResponse:
        """Actions for the supported causes, with what-if gains, costs and the Pareto flag."""
        _known(workbench, incident_id)
        analysis = workbench.recommendations(incident_id)
        ranked = analysis.recommendations
        return _respond(
            {
                "incident_id": incident_id,
                "scope": analysis.scope,
                "recommendations": [r.model_dump() for r in ranked.recommendations]
                if ranked
                else [],
                "evidence_id": analysis.recommendations_id,
                "notes": analysis.notes,
            }
        )


def _document_routes(router: APIRouter, workbench: Workbench) -> None:
    """/plan and /summary of an incident: Markdown documents."""

    @router.get("/plan/{incident_id}", response_class=PlainTextResponse)
    def plan(
        incident_id: str,
        action: str | None = Query(default=None, description="Default: the top recommendation."),
    ) -> PlainTextResponse:
        """The experiment plan (Markdown) for the top recommendation or a given action."""
        _known(workbench, incident_id)
        try:
            output, _ = workbench.plan(incident_id, action)
        except ToolError as error:
            status = 422 if action else 409
            raise HTTPException(status_code=status, detail=str(error)) from None
        return PlainTextResponse(
            output.markdown,
            media_type=MARKDOWN,
            headers={
                "Content-Disposition": f'attachment; filename="experiment_plan_{incident_id}.md"'
            },
        )

    @router.get("/summary/{incident_id}", response_class=PlainTextResponse)
    def summary(incident_id: str) -> PlainTextResponse:
        """The product manager's brief of the incident (Markdown)."""
        _known(workbench, incident_id)
        return PlainTextResponse(pm_summary(workbench, incident_id), media_type=MARKDOWN)


def _feedback_routes(router: APIRouter, workbench: Workbench) -> None:
    """/incidents/{id}/feedback: verdicts on an incident's top cause, given and read."""

    @router.post("/incidents/{incident_id}/feedback", status_code=201)
    def add_feedback(incident_id: str, request: FeedbackRequest) -> JSONResponse:
        """Say whether the incident's top cause is right, wrong (and which one is: a cause kind
        or 'other') or not quite, with a comment. `judged_cause` defaults to the top cause the
        workbench shows (computing the RCA if it has not run). Returns the stored feedback."""
        _known(workbench, incident_id)
        try:
            stored = record_feedback(workbench, incident_id, request)
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from None
        return JSONResponse(json_safe(stored.model_dump()), status_code=201)

    @router.get("/incidents/{incident_id}/feedback")
    def feedback(incident_id: str) -> JSONResponse:
        """An incident's feedback, oldest first, and `latest`, the one that counts."""
        _known(workbench, incident_id)
        given = FeedbackStore.open(workbench.world_dir).for_incident(incident_id)
        return _respond(
            {
                "incident_id": incident_id,
                "latest": given[-1].model_dump() if given else None,
                "feedback": [item.model_dump() for item in given],
            }
        )


def _agent_routes(router: APIRouter, workbench: Workbench) -> None:
    """/ask and /threads/{id}: the agent and its conversations."""

    @router.post("/ask")
    def ask(request: AskRequest) -> JSONResponse:
        """Ask the agent (the `cxagent ask --json` object): `kind` says what was asked
        (diagnose, lookup, trend, compare, rank, incidents, changes, what_if, plan, explain,
        sql, help, out_of_scope), `answer` is the narrative citing evidence ids, `table` holds
        the rows of a tabular answer (else null), and `chart` names a trend's period and metric
        columns of `table` (else null)."""
        thread_id = request.thread_id or uuid.uuid4().hex
        result = workbench.ask(request.question, thread_id)
        return _respond({**result, "thread_id": thread_id})

    @router.get("/threads/{thread_id}")
    def thread(
        thread_id: str = Path(pattern=THREAD_ID, description="The thread_id of /api/ask."),
    ) -> JSONResponse:
        """A conversation, kept across restarts: its `turns` in order (turn, question, kind,
        answer, grounding, answered_at) and `evidence`, the thread's ledger that the answers
        cite. An unknown thread is a 404 that names no other thread."""
        conversation = workbench.conversation(thread_id)
        if conversation is None:
            raise HTTPException(status_code=404, detail="no conversation with this thread id")
        return _respond(conversation)

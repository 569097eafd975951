from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import AdminUser, AuthenticatedRoute, ServingDep, SessionDep, SettingsDep
from gateway.models import ErrorDetail, EvaluationReport, LabelRoute
from gateway.services.canary import LabelRouter
from gateway.services.evaluation import evaluation_report

router = APIRouter(
    prefix="/model",
    tags=["model"],
    responses={401: {"model": ErrorDetail}, 403: {"model": ErrorDetail}},
    route_class=AuthenticatedRoute,
)


@router.get("/evaluation", response_model=EvaluationReport)
async def evaluation(
    _admin: AdminUser,
    session: SessionDep,
    serving: ServingDep,
    settings: SettingsDep,
    model_name: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> EvaluationReport:
    """Admins only. Each model version and label as its users judged it: predictions, feedback with a
    verdict (each prediction's latest) and its rate, top-1 accuracy with a 95 % Wilson interval, the most
    confused (predicted, actual) label pairs, and the model server's p50/p95 latency as the gateway timed
    it (recent uncached predictions). `routes`: where the gateway sends users now."""
    report = await evaluation_report(session, model_name)
    if model_name in (None, serving.model_name):
        report.routes = [
            LabelRoute(label=label, version=await serving.labelled_version(label), percent=percent)
            for label, percent in LabelRouter.from_settings(settings).shares()
        ]
    return report

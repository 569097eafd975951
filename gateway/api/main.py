from fastapi import APIRouter

from gateway.api.routes import evaluation, feedback, health, login, predict, users

api_router = APIRouter()
for module in (users, login, predict, evaluation, feedback, health):
    api_router.include_router(module.router)

"""Every visits route, for the app to register."""

from backend.visits.controllers import COORDINATION_CONTROLLERS
from backend.visits.plan_controllers import PLAN_CONTROLLERS

VISIT_ROUTES: list[type] = [*PLAN_CONTROLLERS, *COORDINATION_CONTROLLERS]

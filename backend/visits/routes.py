"""Every visits route, for the app to register."""

from backend.visits.controllers import COORDINATION_CONTROLLERS
from backend.visits.schedule_controllers import SCHEDULE_CONTROLLERS

VISIT_ROUTES: list[type] = [*SCHEDULE_CONTROLLERS, *COORDINATION_CONTROLLERS]

"""HTTP routes of the optimization layer, mounted by the cost analyzer's app."""

from fastapi import APIRouter

router = APIRouter()

"""The personas of go-live day: citizens (open-model arrivals), commune officers and
provincial agencies (Locust users). One module each."""

from scenarios.personas.agency import ProvincialAgency
from scenarios.personas.citizen import citizen_journey
from scenarios.personas.officer import CommuneOfficer

__all__ = ["CommuneOfficer", "ProvincialAgency", "citizen_journey"]

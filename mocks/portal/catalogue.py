"""The procedure catalogue (danh mục thủ tục hành chính) each province publishes.

Every province gets the same ~20 common procedures, coded ``<n>.<6 digits>.<agency>``
with the province People's Committee agency code, e.g. ``1.001193.000.00.00.H26``.
The catalogue is a pure function of the roster, so scenarios can compute valid codes
without asking the portal. Procedures with a fee lead a dossier through status 6
(fees due) before processing continues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from kernel.roster import load_roster

__all__ = ["Procedure", "catalogue_of", "find_procedure", "PROCEDURE_CODE_PATTERN", "MIN_FEE_VND", "MAX_FEE_VND"]

#: ``<n>.<6 digits>.<agency code>`` (agency code: dot groups of ``0-9A-Z``).
PROCEDURE_CODE_PATTERN = re.compile(r"[0-9]\.[0-9]{6}\.[0-9A-Z]+(?:\.[0-9A-Z]+)*")
MIN_FEE_VND = 2_000
MAX_FEE_VND = 200_000_000


@dataclass(frozen=True, slots=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính) of a province."""

    code: str
    name: str
    domain: str  # lĩnh vực
    level: str  # "commune" or "province": who processes it after the two-tier reform
    fee_vnd: int  # 0 = free; otherwise within MIN_FEE_VND..MAX_FEE_VND
    processing_days: int

    def to_json(self) -> dict[str, object]:
        """The JSON object served by ``GET /procedures``."""
        return {
            "code": self.code,
            "name": self.name,
            "domain": self.domain,
            "level": self.level,
            "fee_vnd": self.fee_vnd,
            "processing_days": self.processing_days,
        }


# (level digit, 6-digit number, name, domain, processing level, fee VND, days)
_TEMPLATES: tuple[tuple[int, str, str, str, str, int, int], ...] = (
    (1, "001193", "Đăng ký khai sinh", "Hộ tịch", "commune", 0, 1),
    (1, "000894", "Đăng ký kết hôn", "Hộ tịch", "commune", 0, 3),
    (1, "001022", "Đăng ký khai tử", "Hộ tịch", "commune", 0, 1),
    (1, "004873", "Cấp bản sao trích lục hộ tịch", "Hộ tịch", "commune", 8_000, 1),
    (1, "001695", "Xác nhận tình trạng hôn nhân", "Hộ tịch", "commune", 0, 3),
    (1, "004194", "Đăng ký thường trú", "Đăng ký, quản lý cư trú", "commune", 20_000, 7),
    (1, "004222", "Đăng ký tạm trú", "Đăng ký, quản lý cư trú", "commune", 15_000, 3),
    (1, "004227", "Xóa đăng ký thường trú", "Đăng ký, quản lý cư trú", "commune", 0, 1),
    (1, "001009", "Đăng ký thành lập hộ kinh doanh", "Thành lập và hoạt động của hộ kinh doanh", "commune", 100_000, 3),
    (1, "001612", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", "Thành lập và hoạt động của hộ kinh doanh",
     "commune", 50_000, 3),
    (1, "001266", "Tạm ngừng kinh doanh hộ kinh doanh", "Thành lập và hoạt động của hộ kinh doanh", "commune", 0, 3),
    (1, "012790", "Đăng ký đất đai, tài sản gắn liền với đất lần đầu", "Đất đai", "commune", 500_000, 20),
    (1, "012793", "Cấp đổi giấy chứng nhận quyền sử dụng đất", "Đất đai", "commune", 300_000, 10),
    (1, "012780", "Chuyển nhượng quyền sử dụng đất", "Đất đai", "commune", 2_500_000, 10),
    (1, "011442", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "Hoạt động xây dựng", "commune", 75_000, 15),
    (2, "000485", "Chứng thực bản sao từ bản chính", "Chứng thực", "commune", 2_000, 1),
    (2, "000815", "Chứng thực chữ ký trong giấy tờ, văn bản", "Chứng thực", "commune", 10_000, 1),
    (1, "001776", "Trợ cấp xã hội hằng tháng đối với đối tượng bảo trợ xã hội", "Bảo trợ xã hội", "commune", 0, 20),
    (1, "010940", "Cấp giấy phép lái xe (đổi)", "Đường bộ", "province", 135_000, 5),
    (1, "002349", "Cấp giấy phép thành lập doanh nghiệp", "Thành lập và phát triển doanh nghiệp", "province", 50_000, 3),
)


@cache
def catalogue_of(province_code: str) -> tuple[Procedure, ...]:
    """The published catalogue of a province (KeyError for an unknown province)."""
    agency = load_roster().province(province_code).agency_code
    return tuple(
        Procedure(f"{level}.{number}.{agency}", name, domain, where, fee, days)
        for level, number, name, domain, where, fee, days in _TEMPLATES
    )


@cache
def _index(province_code: str) -> dict[str, Procedure]:
    return {p.code: p for p in catalogue_of(province_code)}


def find_procedure(province_code: str, code: str) -> Procedure | None:
    """The procedure ``code`` in the catalogue of ``province_code``, or ``None``."""
    return _index(province_code).get(code)

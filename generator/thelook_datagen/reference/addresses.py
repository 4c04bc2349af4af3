"""Street addresses that read right for each country, in Latin script as the data set has them."""
from __future__ import annotations

import random

from thelook_datagen.reference.fakers import faker_for, provider

# Countries whose Faker locale writes addresses in Latin script.
_LOCALES = {
    "United States": "en_US",
    "Brasil": "pt_BR",
    "France": "fr_FR",
    "United Kingdom": "en_GB",
    "Germany": "de_DE",
    "Spain": "es_ES",
    "Australia": "en_AU",
}
_BELGIUM = {"Flanders": "nl_BE", "Wallonia": "fr_FR", "Brussels": "fr_FR"}

_CN_STREETS = (
    "Renmin", "Jiefang", "Zhongshan", "Jianshe", "Heping", "Xinhua", "Changjiang", "Huanghe", "Dongfeng",
    "Wenhua", "Yan'an", "Chaoyang", "Jiangbin", "Binhe", "Youyi", "Gongye", "Xueyuan", "Huaihai",
    "Nanjing", "Beijing", "Shengli", "Minzhu", "Jinxiu", "Qingnian", "Tiyu", "Fuxing", "Hongqi",
    "Yingbin", "Guangming", "Kaifa",
)
_CN_KINDS = ("Road", "Road", "Street", "Avenue", "East Road", "West Road", "North Road", "South Road")
_JP_DISTRICTS = (
    "Honcho", "Chuo", "Sakae", "Midori", "Aoba", "Asahi", "Kita", "Minami", "Nishi", "Higashi",
    "Sakuragaoka", "Hommachi", "Nakamachi", "Motomachi", "Shinmachi", "Kotobuki", "Saiwai", "Hikari",
    "Fujimi", "Matsubara", "Takasago", "Wakaba", "Kasuga", "Hon-cho", "Yayoi",
)
_KR_ROADS = (
    "Teheran", "Gangnam", "Sejong", "Jong", "Hannam", "Dosan", "Olympic", "Eulji", "Toegye", "Jungang",
    "Haeundae", "Gwangbok", "Dongil", "Hwarang", "Nonhyeon", "Yeongdong", "Sinchon", "Dongho",
    "Cheonho", "Mokdong", "Gyeongin", "Baekje", "Gukhoe", "Samil", "Dalgubeol",
)
_KR_KINDS = ("-ro", "-ro", "-gil", "-daero")


def street_address(rng: random.Random, country: str, state: str = "") -> str:
    if country == "China":
        return f"{rng.randint(1, 999)} {rng.choice(_CN_STREETS)} {rng.choice(_CN_KINDS)}"
    if country == "Japan":
        return f"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)} {rng.choice(_JP_DISTRICTS)}"
    if country == "South Korea":
        return f"{rng.randint(1, 500)} {rng.choice(_KR_ROADS)}{rng.choice(_KR_KINDS)}"
    locale = _BELGIUM.get(state, "nl_BE") if country == "Belgium" else _LOCALES.get(country, "en_US")
    text = faker_for(locale, rng).street_address()
    text = ", ".join(part.strip() for part in text.splitlines() if part.strip())
    if not any(ch.isdigit() for ch in text):  # some locales' formats omit the house number
        text = f"{text}, {rng.randint(1, 2999)}"
    return text


_us_zip: dict[str, tuple[int, int]] | None = None


def us_zip_range(state_abbr: str) -> tuple[int, int]:
    """The ZIP code range Faker's en_US locale knows for a state."""
    global _us_zip
    if _us_zip is None:
        _us_zip = dict(provider("en_US", "address").states_postcode)
    return _us_zip[state_abbr]

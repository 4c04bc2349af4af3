"""Names and e-mail addresses for theLook's users, from Faker's locale name lists.

Names are drawn straight from each locale's lists (with Faker's frequency weights where it has
them) through precomputed cumulative weights: about a microsecond a name instead of Faker's tens.
Countries whose Faker locale writes names in another script get romanized names, as the data set
has Latin-script names everywhere.
"""
from __future__ import annotations

import random
import re
import unicodedata
from bisect import bisect
from itertools import accumulate

from thelook_datagen.reference.fakers import provider

_LOCALES = {
    "United States": "en_US",
    "Brasil": "pt_BR",
    "France": "fr_FR",
    "United Kingdom": "en_GB",
    "Germany": "de_DE",
    "Spain": "es_ES",
    "Australia": "en_AU",
    "Belgium": "nl_BE",
    "China": "zh_CN",
    "Japan": "ja_JP",
}

# Faker's ko_KR has Hangul names only; the common romanized surnames and given names instead.
_KR_LAST = (
    ("Kim", 21.5), ("Lee", 14.7), ("Park", 8.4), ("Choi", 4.7), ("Jung", 4.3), ("Kang", 2.3),
    ("Cho", 2.1), ("Yoon", 2.1), ("Jang", 2.0), ("Lim", 1.7), ("Han", 1.5), ("Oh", 1.5), ("Seo", 1.5),
    ("Shin", 1.5), ("Kwon", 1.4), ("Hwang", 1.4), ("Ahn", 1.4), ("Song", 1.3), ("Yoo", 1.3),
    ("Hong", 1.1), ("Jeon", 1.1), ("Ko", 0.9), ("Moon", 0.9), ("Yang", 0.9), ("Son", 0.9), ("Bae", 0.8),
    ("Baek", 0.8), ("Heo", 0.6), ("Nam", 0.5), ("Noh", 0.5),
)
_KR_MALE = (
    "Min-jun", "Seo-jun", "Do-yun", "Ye-jun", "Si-woo", "Ha-jun", "Ji-ho", "Joo-won", "Ji-hoon",
    "Jun-seo", "Hyun-woo", "Dong-hyun", "Sung-min", "Jae-won", "Young-ho", "Sang-hoon", "Jin-woo",
    "Tae-yang", "Woo-jin", "Seung-hyun",
)
_KR_FEMALE = (
    "Seo-yeon", "Seo-yun", "Ji-woo", "Seo-hyun", "Min-seo", "Ha-eun", "Ha-yoon", "Ji-yoo", "Yoon-seo",
    "Chae-won", "Ji-min", "Su-bin", "Eun-ji", "Hye-jin", "Min-ji", "Yu-na", "So-yeon", "Ji-eun",
    "Da-eun", "Soo-ah",
)

# Faker's zh_CN has 23 unisex romanized given names; common pinyin given names by gender instead.
_CN_MALE = (
    "Wei", "Hao", "Jun", "Jie", "Tao", "Ming", "Qiang", "Lei", "Yang", "Bo", "Peng", "Chao", "Gang", "Long",
    "Bin", "Feng", "Kai", "Yong", "Zhiwei", "Haoran", "Yuxuan", "Zihao", "Junjie", "Jianguo", "Zhiqiang",
    "Wenbo", "Yifan", "Tianyu", "Mingyu", "Xiaolong", "Jiahao", "Zhenyu", "Guoqiang", "Liang", "Dong",
    "Jianhua", "Haoyu", "Yichen", "Zhihao", "Chen",
)
_CN_FEMALE = (
    "Fang", "Jing", "Li", "Na", "Min", "Ying", "Yan", "Hua", "Xiu", "Lan", "Mei", "Ting", "Xue", "Juan",
    "Xia", "Hong", "Qian", "Dan", "Xiaoyan", "Xiaomei", "Yuting", "Zihan", "Yuxin", "Xinyi", "Shiyu",
    "Yiting", "Jiayi", "Ruoxi", "Mengyao", "Siqi", "Wenjing", "Huimin", "Lijuan", "Jingjing", "Tingting",
    "Lili", "Yanping", "Xiaohong", "Yue", "Shu",
)

_DOMAINS = (("example.com", 0.5), ("example.net", 0.25), ("example.org", 0.25))


class _Names:
    __slots__ = ("male", "male_cum", "female", "female_cum", "last", "last_cum")

    def __init__(self, male, female, last):
        self.male, self.male_cum = _weighted(male)
        self.female, self.female_cum = _weighted(female)
        self.last, self.last_cum = _weighted(last)


def _weighted(names) -> tuple[tuple[str, ...], list[float]]:
    if isinstance(names, dict):
        items = [(k, float(v)) for k, v in names.items()]
    else:
        items = [(n, 1.0) if isinstance(n, str) else (n[0], float(n[1])) for n in names]
    return tuple(k for k, _ in items), list(accumulate(w for _, w in items))


_names: dict[str, _Names] = {}


def _names_for(country: str) -> _Names:
    names = _names.get(country)
    if names is None:
        locale = _LOCALES.get(country)
        if country == "South Korea":
            names = _Names(_KR_MALE, _KR_FEMALE, _KR_LAST)
        elif locale == "zh_CN":
            names = _Names(_CN_MALE, _CN_FEMALE, provider(locale, "person").last_romanized_names)
        elif locale == "ja_JP":
            p = provider(locale, "person")
            names = _Names(p.first_romanized_names_male, p.first_romanized_names_female, p.last_romanized_names)
        else:
            p = provider(locale or "en_US", "person")
            names = _Names(p.first_names_male, p.first_names_female, p.last_names)
        _names[country] = names
    return names


class PersonSampler:
    def __init__(self, rng: random.Random):
        self._rng = rng
        self._domains, self._domain_cum = _weighted(_DOMAINS)

    def name(self, gender: str, country: str) -> tuple[str, str]:
        """(first, last) for gender 'M' or 'F' (anything else draws from both lists)."""
        rnd = self._rng.random
        names = _names_for(country)
        if gender == "M" or (gender != "F" and rnd() < 0.5):
            pool, cum = names.male, names.male_cum
        else:
            pool, cum = names.female, names.female_cum
        first = pool[bisect(cum, rnd() * cum[-1])]
        last = names.last[bisect(names.last_cum, rnd() * names.last_cum[-1])]
        return first, last

    def email(self, first: str, last: str) -> str:
        rnd = self._rng.random
        f, l = _ascii_local(first), _ascii_local(last)
        f, l = f or "user", l or "shopper"
        style = rnd()
        number = int(rnd() * 10000)
        if style < 0.45:
            local = f"{f}.{l}{number}"
        elif style < 0.7:
            local = f"{f}{l}{number}"
        elif style < 0.85:
            local = f"{f[0]}{l}{number}"
        else:
            local = f"{f}_{l}{number % 1000}"
        domain = self._domains[bisect(self._domain_cum, rnd() * self._domain_cum[-1])]
        return f"{local}@{domain}"


_NOT_LOCAL = re.compile(r"[^a-z0-9]+")


def _ascii_local(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_LOCAL.sub("", folded.lower())

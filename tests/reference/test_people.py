"""Names and e-mails: per gender and country, reproducible, cheap."""
import random
import re
import time

from thelook_datagen.reference.people import PersonSampler
from thelook_datagen.reference.regions import COUNTRIES

COUNTRY_NAMES = [name for name, _ in COUNTRIES.values()]
EMAIL = re.compile(r"^[a-z0-9._]+@example\.(com|net|org)$")


def test_names_for_every_country_and_gender():
    people = PersonSampler(random.Random(1))
    for country in COUNTRY_NAMES:
        for gender in ("M", "F"):
            firsts = set()
            for _ in range(200):
                first, last = people.name(gender, country)
                assert first and last and first.strip() == first and last.strip() == last
                # the data set has Latin-script names everywhere
                assert all(ch.isascii() or ch.isalpha() and ord(ch) < 0x250 for ch in first + last), (first, last)
                firsts.add(first)
            assert len(firsts) > 10, (country, gender)


def test_gender_picks_the_matching_list():
    people = PersonSampler(random.Random(2))
    men = {people.name("M", "United States")[0] for _ in range(300)}
    women = {people.name("F", "United States")[0] for _ in range(300)}
    assert len(men & women) < 10


def test_unknown_country_falls_back_to_english_names():
    first, last = PersonSampler(random.Random(3)).name("F", "Atlantis")
    assert first.isascii() and last.isascii()


def test_emails_look_real_and_rarely_repeat():
    people = PersonSampler(random.Random(4))
    emails = []
    for _ in range(5000):
        first, last = people.name("F", random.choice(COUNTRY_NAMES))
        email = people.email(first, last)
        assert EMAIL.match(email), email
        emails.append(email)
    assert len(set(emails)) > 0.99 * len(emails)
    assert people.email("José", "Müller").split("@")[0].startswith(("jose", "j", "jmuller"))


def test_same_seed_same_people():
    def draw(seed):
        people = PersonSampler(random.Random(seed))
        out = []
        for i in range(300):
            first, last = people.name("MF"[i % 2], COUNTRY_NAMES[i % len(COUNTRY_NAMES)])
            out.append((first, last, people.email(first, last)))
        return out

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_call_cost_is_printed():
    people = PersonSampler(random.Random(5))
    n = 50_000
    start = time.perf_counter()
    for _ in range(n):
        people.name("F", "Brasil")
    per_name = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        people.email("Maria", "Souza")
    per_email = (time.perf_counter() - start) / n
    print(f"\nPersonSampler.name: {per_name * 1e6:.2f} us; email: {per_email * 1e6:.2f} us")

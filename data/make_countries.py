"""Generate data/countries.jsonl, the embedded store's corpus, from the countryinfo and pycountry packages.

    pip install -e ".[data]" && python data/make_countries.py

One document per country: a few plain sentences on its capital, region, population, area, languages,
currencies and neighbours, with meta.name set to the country's name. The output is committed so that
serving needs neither package.
"""
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import countryinfo
import pycountry

# Alternative spellings that read as an official name ("Italian Republic", "Kingdom of Spain").
OFFICIAL_WORDS = re.compile(r"Republic|Kingdom|State|Commonwealth|Federation|Principality|Union|Emirate|Sultanate|Duchy")
OUTPUT = Path(__file__).resolve().parent / "countries.jsonl"


def load_countries() -> List[Dict[str, Any]]:
    folder = Path(countryinfo.__file__).parent / "data"
    by_name = {}
    for path in sorted(folder.glob("*.json")):
        country = json.loads(path.read_text(encoding="utf-8"))
        # The package has a few countries twice under differently spelled file names.
        if country.get("name") and country.get("capital"):
            by_name.setdefault(country["name"], country)
    return [by_name[name] for name in sorted(by_name)]


def listing(items: List[str]) -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def language_name(code: str) -> str:
    language = pycountry.languages.get(alpha_2=code) or pycountry.languages.get(alpha_3=code)
    return language.name if language else code


def currency_name(code: str) -> str:
    currency = pycountry.currencies.get(alpha_3=code)
    return f"{currency.name} ({code})" if currency else code


def describe(country: Dict[str, Any], names_by_code: Dict[str, str]) -> str:
    name = country["name"]
    official = [s for s in country.get("altSpellings", []) if OFFICIAL_WORDS.search(s) and s.isascii()]
    sentences = [f"{name}" + (f", officially the {official[0]}," if official else "") + " is a country"
                 + (f" in {country['subregion']}" if country.get("subregion") else "")
                 + (f", part of {country['region']}" if country.get("region") else "") + "."]
    sentences.append(f"The capital of {name} is {country['capital']}.")
    if country.get("population"):
        sentences.append(f"{name} has a population of {country['population']:,} people.")
    if country.get("area"):
        sentences.append(f"Its area is {country['area']:,} square kilometres.")
    if country.get("languages"):
        sentences.append(f"Languages spoken in {name}: {listing([language_name(c) for c in country['languages']])}.")
    if country.get("currencies"):
        sentences.append(f"Currency: {listing([currency_name(c) for c in country['currencies']])}.")
    if country.get("demonym"):
        sentences.append(f"People from {name} are called {country['demonym']}.")
    neighbours = [names_by_code.get(code, code) for code in country.get("borders") or []]
    if neighbours:
        sentences.append(f"{name} borders {listing(neighbours)}.")
    elif country.get("borders") is not None:
        sentences.append(f"{name} has no land borders.")
    if country.get("nativeName") and country["nativeName"] != name:
        sentences.append(f"In its own language it is called {country['nativeName']}.")
    return " ".join(sentences)


def main() -> int:
    countries = load_countries()
    names_by_code = {c["ISO"]["alpha3"]: c["name"] for c in countries if c.get("ISO")}
    with OUTPUT.open("w", encoding="utf-8") as out:
        for country in countries:
            record = {
                "content": describe(country, names_by_code),
                "meta": {"name": country["name"], "capital": country["capital"], "source": "countryinfo"},
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(countries)} countries to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

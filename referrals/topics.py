"""What a resident's words are about: a fixed vocabulary of topics, each tied to a need (pure, no I/O).

Why a vocabulary and not the words themselves: the conversation keeps only topic codes ("eviction",
"unpaid_wages") between turns, never the resident's text. The codes serve three jobs:

- listening: a message that names several needs ("they didn't pay me, I'm behind on rent, I want to
  go back to school") yields them all, in the order written, so the conversation can take them one
  after another; "not a job" is a negated mention and never counts;
- saying back what was understood, in a few words ("Got it: help with eviction.");
- ranking: a program whose own name or description speaks of the topic ("eviction") fits a resident
  who spoke of it better than one that only shares the need ("child care" for "my landlord is
  evicting me").

Patterns run on `fold`ed text (lower case, no accents; n-tilde kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from referrals.language import fold


@dataclass(frozen=True)
class Topic:
    key: str
    need: str | None  # None: says something about the resident, not what they need (immigration status)
    en: str  # a few words that fit "help with ..."
    es: str  # the same, to fit "ayuda con ..."
    said: str  # regex on the resident's folded text
    program: str | None = None  # regex on a program's folded name + description; None: no ranking weight


TOPICS: tuple[Topic, ...] = (
    # basic needs
    Topic("eviction", "basic_needs", "an eviction", "un desalojo",
          r"evict\w*|kick(ing|ed)? (me|us) out|desaloj\w*|landlord|casero|dueno (de la casa|del (apartamento|departamento))",
          r"evict"),
    Topic("rent", "basic_needs", "rent", "la renta",
          r"\brent\w*|\brenta\b|alquiler|behind on (my )?housing", r"\brent\b"),
    Topic("utilities", "basic_needs", "utility bills", "los servicios de luz, gas o agua",
          r"electric (bill|company)|power (bill|company)|(gas|water|light) bill|utilit\w*|shut ?off|"
          r"\bla luz\b|recibo de (luz|gas|agua)|me (cortaron|van a cortar)", r"utilit|shutoff|electric"),
    Topic("food", "basic_needs", "food", "comida",
          r"food|hungry|groceries|nothing to eat|comida|hambre|despensa|mandado|alimentos", r"food|groceries|snap"),
    Topic("child_care", "basic_needs", "child care", "el cuidado de los niños",
          r"child ?care|day ?care|babysit\w*|guarderia|cuidado de (los |mis )?ni\u00f1os", r"child care"),
    Topic("bus_pass", "basic_needs", "a bus pass", "un pase de autobús",
          r"bus (pass|fare)|get to (the |my )?interview|pase de (autobus|camion)|transporte", r"bus pass"),
    # wages
    Topic("unpaid_wages", "wages", "unpaid wages", "salarios no pagados",
          r"(didn ?t|did not|didnt|never|hasn ?t|haven ?t|won ?t|not) (get )?(pay|paid)|unpaid|owes? me|owed|"
          r"wage theft|back pay|overtime|no me (han |quieren )?paga\w*|me deben|horas extra\w*|robo de salario",
          r"unpaid|back pay|overtime"),
    Topic("sick_leave", "wages", "sick leave", "los días por enfermedad",
          r"sick (leave|days?|pay)|dias (de|por) enfermedad", r"sick leave"),
    Topic("fired", "wages", "a problem at work", "un problema en el trabajo",
          # Being let go is context for a job search ("me despidieron"); an unfair firing is a wages need.
          r"fired (me )?(unfairly|for no reason|illegally|because)|wrongful\w*|despido injusto|"
          r"me despidieron (sin razon|injustamente|por)|discriminat\w*|harass\w*|discrimina\w*|acoso",
          r"discrimination|wrongful"),
    # work and training
    Topic("city_job", "city_jobs", "a job with the city", "un trabajo con la ciudad",
          r"(job|work|hiring)s? (with|for|at) the city|city (job|hiring|employ)\w*|civil service|"
          r"trabajo (con|en|para) la ciudad|municipal", None),
    Topic("internship", "city_jobs", "an internship", "unas prácticas",
          r"intern(ship)?|practicas|pasantia", r"internship"),
    Topic("bus_driver", "city_jobs", "driving a bus", "manejar autobuses",
          r"bus (driver|operator)|drive a bus|chofer de (autobus|camion)", r"bus operator"),
    Topic("youth_job", "employment", "a summer or youth job", "un trabajo para jóvenes",
          r"summer job|\bteens?\b|youth|my (son|daughter)|trabajo de verano|jovenes|mi hij[oa]",
          r"young people|summer"),
    Topic("record", "employment", "work with a record", "trabajo con antecedentes",
          r"record|felony|conviction|prison|jail|antecedentes|carcel|prision", r"conviction"),
    Topic("resume", "employment", "your resume", "su currículum",
          r"resume|\bcv\b|interview|curriculum|entrevista", r"resume|interview"),
    Topic("job", "employment", "a job", "trabajo",
          r"\bjobs?\b|\bwork\b|employ\w*|hired|hiring|trabajo|empleo|chamba|jale", None),
    Topic("ged", "job_training", "your GED", "el GED",
          r"\bged\b|high school (diploma|equivalency)|diploma|prepa\w*|secundaria", r"\bged\b"),
    Topic("english", "job_training", "English classes", "clases de inglés",
          r"english class\w*|learn english|\besl\b|clases de ingles|aprender ingles", r"english"),
    Topic("cdl", "job_training", "a CDL", "una licencia CDL",
          r"\bcdl\b|truck|camion\w*|trailer\w*", r"commercial driver"),
    Topic("healthcare", "job_training", "healthcare training", "capacitación en salud",
          r"nurs\w*|\bcna\b|medical assistant|health ?care|phlebotom\w*|enfermer\w*|asistente medic\w*",
          r"nursing|medical|healthcare"),
    Topic("trades", "job_training", "the building trades", "los oficios de construcción",
          r"construction|carpent\w*|electrician|plumb\w*|weld\w*|apprentice\w*|construccion|carpinter\w*|"
          r"electricista|plomer\w*|soldad\w*", r"apprentice|carpentry"),
    Topic("school", "job_training", "going back to school", "volver a estudiar",
          r"back to school|school|class(es)?|certificate|training|estudiar|escuela|clases|curso\w*|capacita\w*",
          r"class|certificate|training"),
    # business
    Topic("loan", "small_business", "a business loan", "un préstamo para su negocio",
          r"business loan|loan for my (business|shop|store)|microloan|prestamo para (mi|el) negocio", r"loan"),
    Topic("grant", "small_business", "a grant for your storefront", "una subvención para su local",
          r"grant|storefront|subvencion|fachada", r"grant"),
    Topic("contracts", "small_business", "city contracts", "contratos con la ciudad",
          r"contracts?|mwbe|minority.owned|women.owned|contrato\w*|certificacion", r"contract"),
    Topic("business", "small_business", "your business", "su negocio",
          r"business|food truck|my (own )?(shop|store|restaurant)|negocio|emprend\w*|mi (tienda|restaurante)", None),
    # savings
    Topic("home", "savings", "buying a home", "comprar una casa",
          r"buy (a|my first) (home|house)|down payment|first home|comprar (una |mi )?casa|enganche", r"home|down payment"),
    Topic("college", "savings", "saving for college", "ahorrar para la universidad",
          r"college|universit\w*|universidad", r"college"),
    Topic("retirement", "savings", "retirement savings", "ahorrar para el retiro",
          r"retire\w*|\bgig\b|uber|lyft|doordash|jubila\w*|\bretiro\b", r"retirement"),
    Topic("savings", "savings", "saving money", "ahorrar",
          r"sav(e|es|ing|ings)\b|ahorr\w*|rainy day|emergency fund", r"emergency savings|\bsav"),
    # debt, credit, taxes
    Topic("taxes", "financial_coaching", "taxes", "los impuestos",
          r"\btax(es)?\b|\birs\b|impuesto\w*|taxes", r"\btax"),
    Topic("credit", "financial_coaching", "your credit", "su crédito",
          r"credit|credito|credit score", r"credit"),
    Topic("bank", "financial_coaching", "a bank account", "una cuenta de banco",
          r"bank account|checking account|cuenta (de banco|bancaria)", r"checking account"),
    Topic("debt", "financial_coaching", "debt", "deudas",
          r"debts?|collections|deuda\w*|cobranza|budget|presupuesto", r"debt|budget"),
    # what the resident says about themselves
    Topic("immigration", None, "immigration status", "estatus migratorio",
          r"undocumented|no papers|without papers|(don ?t|do not|dont) have papers|immigra\w*|illegal|\bitin\b|"
          r"green card|indocumentad\w*|sin papeles|no tengo papeles|inmigra\w*|migratori\w*|mi estatus", None),
)
BY_KEY = {t.key: t for t in TOPICS}

# A mention right after one of these is negated: "not a job", "no es trabajo", "i don't need a job".
_NEGATION = re.compile(
    r"(\bnot|\bno|\bnor|\bni|isn ?t|don ?t (need|want)|do not (need|want)|dont (need|want)|"
    r"no (necesito|quiero|busco|es))(\s+(a|an|for|about|with|the|un|una|de|es|con|el|la|ayuda|help))*\s*$")

_COMPILED = [(t, re.compile(rf"(?:{t.said})")) for t in TOPICS]
_PROGRAM = {t.key: re.compile(t.program) for t in TOPICS if t.program}


def _normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9\u00f1]+", " ", fold(text).replace("'", "")).strip()


@dataclass(frozen=True)
class Heard:
    topics: tuple[str, ...]  # every topic mentioned (not negated), in the order written
    needs: tuple[str, ...]  # the needs of those topics, first mention first, without repeats
    negated: tuple[str, ...]  # needs mentioned only as "not ..."


def hear(text: str) -> Heard:
    """The topics and needs a message names, in the order it names them."""
    folded = _normalize(text)
    found: list[tuple[int, Topic]] = []
    negated: list[str] = []
    taken: list[tuple[int, int]] = []
    for topic, pattern in _COMPILED:
        for m in pattern.finditer(folded):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue  # a more specific topic already holds these words ("city job" before "job")
            taken.append((m.start(), m.end()))
            if _NEGATION.search(folded[:m.start()][-40:]):
                if topic.need:
                    negated.append(topic.need)
                continue
            found.append((m.start(), topic))
            break
    found.sort(key=lambda pair: pair[0])
    topics = tuple(dict.fromkeys(t.key for _, t in found))
    needs = tuple(dict.fromkeys(t.need for _, t in found if t.need))
    return Heard(topics, needs, tuple(n for n in dict.fromkeys(negated) if n not in needs))


def label(key: str, lang: str) -> str:
    topic = BY_KEY[key]
    return topic.es if lang == "es" else topic.en


def program_mentions(key: str, program_text: str) -> bool:
    """Whether a program's own words (folded name and description) speak of this topic."""
    pattern = _PROGRAM.get(key)
    return bool(pattern and pattern.search(program_text))


def program_text(name: str, description: str) -> str:
    return _normalize(f"{name} {description}")

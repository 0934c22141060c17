"""Texts the actions send, in English and Spanish.

Replies that rules send live in domain.yml (with a Spanish variant chosen by the `language` slot).
Texts that only an action sends live here: form questions, answers that were not understood, the
program list and the referral outcome. Keeping them out of domain.yml keeps `rasa data validate
--fail-on-warnings` honest: every domain response is used by a rule. Spanish is written as a native
speaker writes it, with every accent, ¿ and ¡: the web shows it as is, and the SMS shaping keeps what
GSM-7 has (ñ, é, ü, ¿, ¡) and folds only the rest. No curly quotes or emoji.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from actions.answers import GENDERS, PREFER_NOT, RACE_ETHNICITY
from referrals.directory import Program
from referrals.matching import Match
from referrals.topics import BY_KEY, label

TEXTS = {
    "en": {
        "ask_zip_code": "What is your ZIP code or neighborhood?",
        "invalid_zip_code": "I didn't recognize that ZIP code or neighborhood. Send 5 digits, like 47105, or one of: {names}.",
        "ask_age_band": "How old are you?",
        "ask_income_band": "About how much does your household earn in a year?",
        "ask_business_stage": "Do you already have a business?",
        "invalid_choice": "Sorry, please pick one of the options.",
        "no_programs": "I couldn't find an open program for you right now. Call 211 (24 hours) or ask to talk to a person.",
        # {how} and {when} come from CONTACT_HOW and by_when(): who calls, how, and by what day.
        "referral_confirmed": "Done. A caseworker from {organization} will {how} about {program} by {when}. Your reference is {reference}.",
        "referral_failed": "Sorry, I couldn't save your referral because of a problem on our side. Nothing was saved. Please try again in a few minutes or call 211.",
        "no_referral": "OK, we won't share your details. You can call the programs any time.",
        "anything_else": "Anything else? Tell me what you need or send 'menu'.",
        "intro": "Here are programs that can help:",
        "intro_one": "Here is a program that can help:",
        "ask": "Want a caseworker from one of them to contact you within 2 business days? Pick one.",
        # On SMS the question comes before the list, so the list and its reply line fit fewer segments.
        "ask_first": "Want a caseworker from one of these to contact you within 2 business days?",
        "ask_first_one": "Want a caseworker from this program to contact you within 2 business days?",
        "no_thanks": "No thanks",
        "spanish": "Spanish spoken",
        "english_only": "English only",
        "check": "Check: {what}",
        "call_first": "Call before you go: details may have changed",
        "any_status": "Serves you whatever your immigration status",
        # The web has no phone number: the contact step, before anything is confirmed (gateway /chat/contact).
        "ask_contact": "How can a caseworker from {organization} reach you? Type a phone number or email. Only they will see it.",
        "invalid_contact": "Please type a phone number (10 digits) or an email, or pick \"I'd rather not\".",
        "no_contact": "I'd rather not",
        "no_contact_referral": "OK, nothing was sent: without a phone or email no one can reach you. You can contact {program} directly: {reach}.",
        "status_some": "These serve everyone, whatever their immigration status: {names}. Ask the others when you call.",
        "status_none": "None of these says in its record whether it asks about immigration status. Ask when you call.",
        "understood": "Got it: help with {what}.",
        "understood_more": "Got it: help with {what}. After that: {others}.",
        "also": "You also mentioned {what}: want help with that too?",
        "yes": "Yes",
        "no": "No",
        # Consent wording: stored word for word with each answer (docs/privacy.md), so change it with care.
        "ask_consent_followup": "May we text you once later to ask how it went? Your referral stays the same either way.",
        "ask_consent_analytics": "May we use your answers, without your name or number, in reports on who the city is reaching? If yes, we'll ask 2 optional questions.",
        "ask_race_ethnicity": "Thanks. What is your race or ethnicity? Pick all that apply, like: 1 4",
        "ask_race_ethnicity_web": "Thanks. What is your race or ethnicity? Pick all that apply.",
        "ask_gender": "What is your gender?",
        "consent_failed": "Sorry, I couldn't save those answers because of a problem on our side. Your referral is saved.",
        # The action server's answer when an action fails (actions/server.py); same words as the gateway's.
        "trouble": "Sorry, we're having trouble right now. Please try again in a few minutes. If you are in danger, call 911. For crisis support, call or text 988.",
    },
    "es": {
        "ask_zip_code": "¿Cuál es su código postal (ZIP) o su barrio?",
        "invalid_zip_code": "No reconocí ese código postal o barrio. Escriba 5 números, por ejemplo 47105, o uno de estos: {names}.",
        "ask_age_band": "¿Cuántos años tiene?",
        "ask_income_band": "¿Cuánto gana su hogar al año, más o menos?",
        "ask_business_stage": "¿Ya tiene un negocio?",
        "invalid_choice": "Perdón, elija una de las opciones.",
        "no_programs": "No encontré un programa abierto para usted ahora. Llame al 211 (24 horas) o pida hablar con una persona.",
        "referral_confirmed": "Listo. Un trabajador {organization} {how} sobre {program} a más tardar el {when}. Su número de referencia es {reference}.",
        "referral_failed": "Perdón, no pude guardar su solicitud por un problema de nuestro lado. No se guardó nada. Intente de nuevo en unos minutos o llame al 211.",
        "no_referral": "Está bien, no compartimos sus datos. Puede llamar a los programas cuando quiera.",
        "anything_else": "¿Necesita algo más? Dígame qué necesita o escriba 'menú'.",
        "intro": "Estos programas le pueden ayudar:",
        "intro_one": "Este programa le puede ayudar:",
        "ask": "¿Quiere que un trabajador de uno de ellos le contacte en 2 días hábiles? Elija uno.",
        "ask_first": "¿Quiere que un trabajador de uno de estos programas le contacte en 2 días hábiles?",
        "ask_first_one": "¿Quiere que un trabajador de este programa le contacte en 2 días hábiles?",
        "no_thanks": "No, gracias",
        "spanish": "Hablan español",
        "english_only": "Solo en inglés",
        "check": "Pregunte por: {what}",
        "any_status": "Le atienden sin importar su estatus migratorio",
        "ask_contact": "¿Cómo se puede comunicar con usted un trabajador {organization}? Escriba un teléfono o un correo electrónico. Solo lo verán ellos.",
        "invalid_contact": "Escriba un teléfono (10 dígitos) o un correo electrónico, o elija \"Prefiero no darlo\".",
        "no_contact": "Prefiero no darlo",
        "no_contact_referral": "Está bien, no enviamos nada: sin un teléfono o correo nadie puede comunicarse con usted. Puede llamar directamente a {program}: {reach}.",
        "status_some": "Estos atienden a todos, sin importar su estatus migratorio: {names}. A los demás, pregúnteles cuando llame.",
        "status_none": "Ninguno de estos dice en su registro si pregunta por el estatus migratorio. Pregunte cuando llame.",
        "understood": "Entendido: ayuda con {what}.",
        "understood_more": "Entendido: ayuda con {what}. Después: {others}.",
        "also": "También mencionó {what}: ¿quiere ayuda con eso también?",
        "yes": "Sí",
        "no": "No",
        "ask_consent_followup": "¿Le podemos escribir una vez más adelante para saber cómo le fue? Su solicitud no cambia.",
        "ask_consent_analytics": "¿Podemos usar sus respuestas, sin su nombre ni número, en informes sobre a quiénes llega la ciudad? Si acepta, le haremos 2 preguntas opcionales.",
        "ask_race_ethnicity": "¿Cuál es su raza u origen étnico? Puede elegir varias, por ej.: 1 4",
        "ask_race_ethnicity_web": "Gracias. ¿Cuál es su raza u origen étnico? Puede elegir varias.",
        "ask_gender": "¿Cuál es su género?",
        "consent_failed": "Perdón, no pude guardar esas respuestas por un problema de nuestro lado. Su solicitud sí quedó guardada.",
        "call_first": "Llame antes de ir: los datos pueden haber cambiado",
        "trouble": "Perdón, tenemos un problema técnico. Intente de nuevo en unos minutos. Si está en peligro, llame al 911. Para apoyo en crisis, llame o envíe un texto al 988.",
    },
}

# How the caseworker will reach the resident, by where the contact came from (the vault's `kind`).
CONTACT_HOW = {
    "en": {"sms": "text or call you", "phone": "call or text you at the number you gave",
           "email": "email you", "other": "contact you"},
    "es": {"sms": "le escribirá o le llamará", "phone": "le llamará o le escribirá al número que nos dio",
           "email": "le escribirá un correo electrónico", "other": "se comunicará con usted"},
}
# What a need is, to fit "help with ..." / "ayuda con ..." when no topic says it better.
NEED_WORDS = {
    "en": {"employment": "a job", "job_training": "training or school", "wages": "your pay",
           "city_jobs": "city jobs", "small_business": "your business", "savings": "saving money",
           "financial_coaching": "debt, credit or taxes", "basic_needs": "rent or food"},
    "es": {"employment": "trabajo", "job_training": "capacitación o estudios", "wages": "su pago",
           "city_jobs": "trabajos de la ciudad", "small_business": "su negocio", "savings": "ahorrar",
           "financial_coaching": "deudas, crédito o impuestos", "basic_needs": "la renta o la comida"},
}

# Button choices of the form questions: (value, English title, Spanish title).
YES_NO = [("yes", "Yes", "Sí"), ("no", "No", "No")]
PREFER_NOT_CHOICE = (PREFER_NOT, "Prefer not to say", "Prefiero no decirlo")
CHOICES: dict[str, list[tuple[str, str, str]]] = {
    "age_band": [("under_18", "Under 18", "Menos de 18"), ("18_24", "18 to 24", "18 a 24"),
                 ("25_54", "25 to 54", "25 a 54"), ("55_64", "55 to 64", "55 a 64"),
                 ("65_plus", "65 or older", "65 o más"), ("unknown", "Prefer not to say", "Prefiero no decirlo")],
    "income_band": [("under_35k", "Under $35,000", "Menos de $35,000"),
                    ("35k_60k", "$35,000 to $60,000", "$35,000 a $60,000"),
                    ("60k_90k", "$60,000 to $90,000", "$60,000 a $90,000"),
                    ("over_90k", "Over $90,000", "Más de $90,000"),
                    ("unknown", "Prefer not to say", "Prefiero no decirlo")],
    "business_stage": [("idea", "No, it's an idea", "No, es una idea"),
                       ("new", "Yes, under 2 years", "Sí, menos de 2 años"),
                       ("established", "Yes, 2 years or more", "Sí, 2 años o más")],
    "consent_followup": YES_NO,
    "consent_analytics": YES_NO,
    # Titles as in OMB SPD 15 (2024). Spanish follows the Census Bureau's Spanish forms.
    "race_ethnicity": list(zip(RACE_ETHNICITY, (
        "American Indian or Alaska Native", "Asian", "Black or African American", "Hispanic or Latino",
        "Middle Eastern or North African", "Native Hawaiian or Pacific Islander", "White"), (
        "Indio americano o nativo de Alaska", "Asiático", "Negro o afroamericano", "Hispano o latino",
        "De Oriente Medio o del Norte de África", "Nativo de Hawái u otra isla del Pacífico", "Blanco"),
        strict=True)) + [PREFER_NOT_CHOICE],
    "gender": list(zip(GENDERS, ("Woman", "Man", "Another gender (e.g. nonbinary)"),
                       ("Mujer", "Hombre", "Otro género (p. ej., no binario)"), strict=True)) + [PREFER_NOT_CHOICE],
}
# Questions where several answers may be picked: the web shows checkboxes, SMS asks for "1 4".
MULTI_SELECT = frozenset({"race_ethnicity"})


def choice_buttons(slot: str, lang: str) -> list[dict[str, str]]:
    """Each choice of a question as a button; its payload carries the canonical value."""
    return [{"title": es if lang == "es" else en, "payload": f'/inform{{"choice":"{value}"}}'}
            for value, en, es in CHOICES.get(slot, [])]


DOUBTS = {
    "en": {"age_partly": "age limit", "age_unknown": "age limit", "income_partly": "income limit",
           "income_unknown": "income limit", "stage_unknown": "business stage", "area_unknown": "area served"},
    "es": {"age_partly": "límite de edad", "age_unknown": "límite de edad", "income_partly": "límite de ingresos",
           "income_unknown": "límite de ingresos", "stage_unknown": "etapa del negocio",
           "area_unknown": "zona que atiende"},
}


def t(lang: str, key: str, **kwargs: str) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**kwargs)


_FEMININE = re.compile(r"(Oficina|Sociedad|Red|Alianza|Agencia|Autoridad|Cooperativa|Corporación|Academia|Línea|"
                       r"Clínica|Universidad|Ciudad)\b")
_MASCULINE = re.compile(r"(Departamento|Centro|Consejo|Colegio|Banco|Fondo|Programa)\b")


def from_org(organization: str, lang: str) -> str:
    """"from" an organization as the sentence needs it: English as is; Spanish "del Departamento ...",
    "de la Oficina ...", "de United Way ..." (the caller writes "Un trabajador {organization}")."""
    if lang != "es":
        return organization
    if _MASCULINE.match(organization):
        return "del " + organization
    if _FEMININE.match(organization):
        return "de la " + organization
    return "de " + organization


def need_words(need: str, topics: list[str], lang: str) -> str:
    """A need in a few words: what the resident said about it ("an eviction") or else the need's name."""
    for key in topics:
        if BY_KEY[key].need == need and key not in GENERIC_TOPICS:
            return label(key, lang)
    return NEED_WORDS.get(lang, NEED_WORDS["en"])[need]


# Topics that only name the need itself: the need's own words read better ("a job", not "work").
GENERIC_TOPICS = frozenset({"job", "business", "savings", "school"})


def summary(p: Program, lang: str, limit: int = 90) -> str:
    """A program in one line: the directory's `summary` in `lang` (x_translations) where it has one, else the
    first sentence of its description, cut at a clause or word boundary so a program list stays short."""
    own = p.translations.get(lang, {})
    written = own.get("summary") or (None if own.get("description") else p.translations.get("en", {}).get("summary"))
    if written:
        return written
    text = " ".join((p.text("description", lang) or "").split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    first = (m.group(1) if m else text).rstrip(".!?")
    if len(first) <= limit:
        return first
    ends = [m.start() for m in re.finditer(r"[,;:](?=\s)| (?=(and|with|that|which|including|such as|so|y|con|que|"
                                          r"como|e|para|sin) )", first[:limit + 1])]
    if ends and ends[-1] >= limit // 2:
        return first[:ends[-1]].rstrip(",;: ")
    words = first[:first.rfind(" ", 0, limit)].split()
    while words and words[-1].lower() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:")


_DANGLING = {"a", "an", "the", "of", "to", "for", "in", "on", "and", "or", "with", "de", "del", "la", "el",
             "los", "las", "lo", "y", "o", "en", "con", "para", "por", "un", "una", "su", "sus", "que", "mientras",
             "while", "so"}


_ANY_STATUS = re.compile(r"regardless of immigration status|immigration status is never asked|"
                         r"any immigration status", re.IGNORECASE)


def serves_any_status(p: Program) -> bool:
    """The program's own record says it serves people whatever their immigration status."""
    record = " ".join(str(p.hsds.get(k) or "") for k in ("eligibility_description", "description"))
    return bool(_ANY_STATUS.search(record + " " + p.description))


def program_line(n: int, match: Match, lang: str, status_asked: bool = False, hours: bool = True) -> str:
    """One numbered program: name, what it is, how to reach it, and what to check. Aim: one or two SMS segments.

    The address is left out when there is a phone: the phone reaches the program, and the address costs
    a segment on a basic phone. On SMS (`hours` False) the hours are left out of the list too: the
    resident who picks a program is called, and one who declines gets phone and hours then (`reach_line`).
    Spanish conversations read the directory's Spanish texts where it has them.
    """
    p: Program = match.program
    what = summary(p, lang)
    parts = [f"{n}. {p.text('name', lang)}" + (f": {what}" if what else "")]
    reach = ", ".join(x for x in (p.phone, p.text("hours", lang) if hours else None) if x)
    if reach:
        parts.append(reach)
    elif p.address:
        parts.append(p.address)
    elif p.url and not reach:
        parts.append(p.url)
    if lang == "es":
        parts.append(t(lang, "spanish") if "es" in p.languages else t(lang, "english_only"))
    if status_asked and serves_any_status(p):
        parts.append(t(lang, "any_status"))
    doubts = sorted({DOUBTS[lang if lang in DOUBTS else "en"][d.code] for d in match.doubts
                     if d.code in DOUBTS["en"]})
    if doubts:
        parts.append(t(lang, "check", what=", ".join(doubts)))
    if p.call_first:
        parts.append(t(lang, "call_first"))
    return ". ".join(parts) + "."


def reach_line(p: Program, lang: str) -> str:
    """How to contact a program directly: phone and hours, else its address or web page."""
    reach = ", ".join(x for x in (p.phone, p.text("hours", lang)) if x)
    return reach or p.address or p.url or p.text("organization", lang)


WEEKDAYS = {"en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
            "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")}
MONTHS = {"en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
          "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                 "octubre", "noviembre", "diciembre")}


def by_when(today: date, lang: str, business_days: int = 2) -> str:
    """The day a promise of `business_days` business days ends, as a resident reads it ("Friday, Dec 4")."""
    day = today
    left = business_days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    weekday = WEEKDAYS.get(lang, WEEKDAYS["en"])[day.weekday()]
    if lang == "es":
        return f"{weekday} {day.day} de {MONTHS['es'][day.month - 1]}"
    return f"{weekday}, {MONTHS['en'][day.month - 1]} {day.day}"

"""Texts the actions send, in English and Spanish.

Replies that rules send live in domain.yml (with a Spanish variant chosen by the `language` slot).
Texts that only an action sends live here: form questions, answers that were not understood, the
program list and the referral outcome. Keeping them out of domain.yml keeps `rasa data validate
--fail-on-warnings` honest: every domain response is used by a rule. Plain ASCII on purpose: every
text goes out as SMS (GSM-7), so no curly quotes, accents or emoji.
"""

from __future__ import annotations

from actions.answers import GENDERS, PREFER_NOT, RACE_ETHNICITY
from referrals.directory import Program
from referrals.matching import Match

TEXTS = {
    "en": {
        "ask_zip_code": "What is your ZIP code or neighborhood?",
        "invalid_zip_code": "I didn't recognize that ZIP code or neighborhood. Send 5 digits, like 47105, or the neighborhood name.",
        "ask_age_band": "How old are you?",
        "ask_income_band": "About how much does your household earn in a year?",
        "ask_business_stage": "Do you already have a business?",
        "invalid_choice": "Sorry, please pick one of the options.",
        "no_programs": "I couldn't find an open program for you right now. Call 211 (24 hours) or ask to talk to a person.",
        "referral_confirmed": "Done. A caseworker from {organization} will contact you within 2 business days about {program}. Your reference is {reference}.",
        "referral_failed": "Sorry, I couldn't save your referral because of a problem on our side. Nothing was saved. Please try again in a few minutes or call 211.",
        "no_referral": "OK, we won't share your details. You can call the programs any time.",
        "anything_else": "Anything else? Tell me what you need or send 'menu'.",
        "intro": "Here are programs that can help:",
        "intro_one": "Here is a program that can help:",
        "ask": "Want a caseworker from one of them to contact you within 2 business days? Pick one.",
        "no_thanks": "No thanks",
        "spanish": "Spanish spoken",
        "english_only": "English only",
        "check": "Check: {what}",
        # Consent wording: stored word for word with each answer (docs/privacy.md), so change it with care.
        "ask_consent_followup": "One more thing. May we text you once later to ask how it went? Your referral stays the same either way.",
        "ask_consent_analytics": "May we use your answers, without your name or number, in reports on who the city is reaching? If yes, we'll ask 2 optional questions.",
        "ask_race_ethnicity": "Thanks. What is your race or ethnicity? Pick all that apply, like: 1 4",
        "ask_gender": "What is your gender?",
        "consent_failed": "Sorry, I couldn't save those answers because of a problem on our side. Your referral is saved.",
    },
    "es": {
        "ask_zip_code": "Cual es su codigo postal (ZIP) o su barrio?",
        "invalid_zip_code": "No reconoci ese codigo postal o barrio. Escriba 5 numeros, por ejemplo 47105, o el nombre del barrio.",
        "ask_age_band": "Cuantos anos tiene?",
        "ask_income_band": "Cuanto gana su hogar al ano, mas o menos?",
        "ask_business_stage": "Ya tiene un negocio?",
        "invalid_choice": "Perdon, elija una de las opciones.",
        "no_programs": "No encontre un programa abierto para usted ahora. Llame al 211 (24 horas) o pida hablar con una persona.",
        "referral_confirmed": "Listo. Un trabajador de {organization} le contactara en 2 dias habiles sobre {program}. Su numero de referencia es {reference}.",
        "referral_failed": "Perdon, no pude guardar su referido por un problema nuestro. No se guardo nada. Intente de nuevo en unos minutos o llame al 211.",
        "no_referral": "Esta bien, no compartimos sus datos. Puede llamar a los programas cuando quiera.",
        "anything_else": "Necesita algo mas? Digame que necesita o escriba 'menu'.",
        "intro": "Estos programas le pueden ayudar:",
        "intro_one": "Este programa le puede ayudar:",
        "ask": "Quiere que un trabajador de uno de ellos le contacte en 2 dias habiles? Elija uno.",
        "no_thanks": "No, gracias",
        "spanish": "Hablan espanol",
        "english_only": "Solo en ingles",
        "check": "Confirme: {what}",
        "ask_consent_followup": "Una cosa mas. Podemos enviarle un texto mas adelante, una sola vez, para saber como le fue? Su referido no cambia, diga lo que diga.",
        "ask_consent_analytics": "Podemos usar sus respuestas, sin su nombre ni numero, en informes sobre a quien llega la ciudad? Si acepta, le haremos 2 preguntas opcionales.",
        "ask_race_ethnicity": "Cual es su raza u origen etnico? Elija todos los que apliquen, ej.: 1 4",
        "ask_gender": "Cual es su genero?",
        "consent_failed": "Perdon, no pude guardar esas respuestas por un problema nuestro. Su referido si quedo guardado.",
    },
}

# Button choices of the form questions: (value, English title, Spanish title).
YES_NO = [("yes", "Yes", "Si"), ("no", "No", "No")]
PREFER_NOT_CHOICE = (PREFER_NOT, "Prefer not to say", "Prefiero no decir")
CHOICES: dict[str, list[tuple[str, str, str]]] = {
    "age_band": [("under_18", "Under 18", "Menos de 18"), ("18_24", "18 to 24", "18 a 24"),
                 ("25_54", "25 to 54", "25 a 54"), ("55_64", "55 to 64", "55 a 64"),
                 ("65_plus", "65 or older", "65 o mas"), ("unknown", "Prefer not to say", "Prefiero no decir")],
    "income_band": [("under_35k", "Under $35,000", "Menos de $35,000"),
                    ("35k_60k", "$35,000 to $60,000", "$35,000 a $60,000"),
                    ("60k_90k", "$60,000 to $90,000", "$60,000 a $90,000"),
                    ("over_90k", "Over $90,000", "Mas de $90,000"),
                    ("unknown", "Prefer not to say", "Prefiero no decir")],
    "business_stage": [("idea", "No, it's an idea", "No, es una idea"),
                       ("new", "Yes, under 2 years", "Si, menos de 2 anos"),
                       ("established", "Yes, 2 years or more", "Si, 2 anos o mas")],
    "consent_followup": YES_NO,
    "consent_analytics": YES_NO,
    # Titles as in OMB SPD 15 (2024). Spanish follows the Census Bureau's Spanish forms, without the
    # accents GSM-7 lacks.
    "race_ethnicity": list(zip(RACE_ETHNICITY, (
        "American Indian or Alaska Native", "Asian", "Black or African American", "Hispanic or Latino",
        "Middle Eastern or North African", "Native Hawaiian or Pacific Islander", "White"), (
        "Indio americano o nativo de Alaska", "Asiatico", "Negro o afroamericano", "Hispano o latino",
        "Del Medio Oriente o del Norte de Africa", "Nativo de Hawai u otra isla del Pacifico", "Blanco"),
        strict=True)) + [PREFER_NOT_CHOICE],
    "gender": list(zip(GENDERS, ("Woman", "Man", "Another gender (e.g. nonbinary)"),
                       ("Mujer", "Hombre", "Otro genero (ej. no binario)"), strict=True)) + [PREFER_NOT_CHOICE],
}


def choice_buttons(slot: str, lang: str) -> list[dict[str, str]]:
    return [{"title": es if lang == "es" else en, "payload": f'/inform{{"choice":"{value}"}}'}
            for value, en, es in CHOICES.get(slot, [])]


DOUBTS = {
    "en": {"age_partly": "age limit", "age_unknown": "age limit", "income_partly": "income limit",
           "income_unknown": "income limit", "stage_unknown": "business stage", "area_unknown": "area served"},
    "es": {"age_partly": "limite de edad", "age_unknown": "limite de edad", "income_partly": "limite de ingresos",
           "income_unknown": "limite de ingresos", "stage_unknown": "etapa del negocio",
           "area_unknown": "zona que atiende"},
}


def t(lang: str, key: str, **kwargs: str) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**kwargs)


def program_line(n: int, match: Match, lang: str) -> str:
    """One numbered program: name, how to reach it, and what to check. Aim: one SMS segment or two."""
    p: Program = match.program
    parts = [f"{n}. {p.name}"]
    reach = ", ".join(x for x in (p.phone, p.hours) if x)
    if reach:
        parts.append(reach)
    if p.address and not reach:  # a phone reaches the program; the address would cost a segment on SMS
        parts.append(p.address)
    elif p.url and not reach:
        parts.append(p.url)
    if lang == "es":
        parts.append(t(lang, "spanish") if "es" in p.languages else t(lang, "english_only"))
    doubts = sorted({DOUBTS[lang if lang in DOUBTS else "en"][d.code] for d in match.doubts
                     if d.code in DOUBTS["en"]})
    if doubts:
        parts.append(t(lang, "check", what=", ".join(doubts)))
    return ". ".join(parts) + "."

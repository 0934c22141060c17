"""Crisis words, caught before the NLU.

Why keywords as well as the model: a classifier trained on a few hundred examples will one day miss
a phrasing, and a missed crisis is the one error this assistant must not make. The patterns are the
safety net under the NLU (triage reports crisis when either says so); they are written against
figurative speech ("killing it at work", "me muero de ganas") so that ordinary messages do not set
off the crisis reply. tests/test_safety.py measures both on tests/data/crisis_set.tsv.
"""

from __future__ import annotations

import re

from referrals.language import fold

_PATTERNS = [
    # English: suicide and self-harm
    r"\b(kill|kil|kll)(ing)? ?(my ?self|myslef|me)\b(?! (at|with|if|for) )",
    r"\bsu[i]?[cs]i?dal?\b", r"\bsuicid", r"\bsucide\b", r"\bsuicde\b",
    r"\bend (it all|my life|it (after|tonight|today|now))\b", r"\bend it\b.{0,20}\b(tonight|today|soon|after)\b",
    r"\b(want|wanna|going|gonna) to die\b", r"\bwant to die\b", r"\bwanna die\b",
    r"\b(dont|do not|don't) want to (be (alive|here)|live|exist)\b",
    r"\bnot wake up\b", r"\bnever wake up\b", r"\bbetter off without me\b",
    r"\b(cut|cutting|burn|burning|hurt|hurting) (my ?self|my (arms|wrists|legs))\b", r"\bcut my (arms|wrists)\b",
    r"\bpoint (of|in) (going on|living)\b", r"\bpain to stop forever\b", r"\bdone with (life|living)\b",
    r"\b(jump|jumping) (off|in front of)\b", r"\bbought a rope\b", r"\bhang (my ?self)\b",
    r"\b(overdose|overdosing|od'?ing)\b", r"\bhow many pills\b", r"\btook (a bunch of|all (my|the)) pills\b",
    r"\bgiving my stuff away\b", r"\bno reason to live\b", r"\btake my (own )?life\b",
    r"\bending it( all)?\b", r"\btake them all\b", r"\b(miss|remember) me (if|when) i('?m| was| am)? gone\b",
    r"\b(been |keep )?cutting (again|myself)\b", r"\bmy last night\b", r"\bgoodbye (letter|note)\b",
    r"\bdisappear (for good|forever)\b", r"\bdriv(e|ing) off (a|the) (bridge|cliff|road)\b",
    r"\bhurt(ing)? myself\b", r"\bself ?harm\b",
    # English: violence and abuse
    r"\b(hits?|hit|beats?|beat|punche[sd]|chok(es|ed|ing)|strangl(es|ed)|push(es|ed)|slap(s|ped)|kick(s|ed)) (me|us|my (mom|kids?|son|daughter|sister|brother))\b",
    r"\b(hurts|hurt|touches|touched|grabbed|abuses|abused|raped|molested) (me|us)\b",
    r"\b(sexually )?(assaulted|raped|molested)\b", r"\babus(e|ed|ing|ive)\b",
    r"\b(kill|hurt|stab|shoot) (me|us|you|someone|my)\b", r"\b(said|says|threat\w*).{0,40}\b(kill|hurt|burn)\b",
    r"\bfollowing me\b", r"\btracks my phone\b", r"\bstalk(ing|er|s)?\b", r"\bscared to go home\b",
    r"\bbruised\b", r"\bmarks\b.{0,20}\b(belt|hit)\b|\b(belt)\b.{0,20}\bmarks\b",
    r"\bdomestic (violence|abuse)\b", r"\bhits my\b", r"\b(wont|won't|doesnt|doesn't) let me leave\b",
    r"\btook my phone\b.{0,30}\b(leave|out)\b|\b(leave|out)\b.{0,30}\btook my phone\b",
    # English: immediate danger and medical emergency
    r"\b(gun|knife|shooting|stabbed|stab)\b", r"\b(got|been|was|were) shot\b|\bshot (me|him|her|at|someone|my)\b", r"\bpulled a gun\b",
    r"\bchest pain\b", r"\b(is not|isnt|isn't|not) breathing\b", r"\bcollapsed\b", r"\bunconscious\b",
    r"\bswallowed (bleach|pills|poison)\b", r"\bbleeding (a lot|badly)\b|\bhead is bleeding\b",
    r"\bfire in my (building|house|apartment)\b", r"\btrying to (get|break) in\b", r"\bwont wake up\b",
    r"\bbreak(ing)? into my\b", r"\bcant breathe\b|\bcan't breathe\b|\bcannot breathe\b",
    # Spanish (accents folded): suicide and self-harm
    r"\b(matarme|suicidarme|suisidarme|suicidar|suisidar|suicidio)\b", r"\bquitarme la vida\b",
    r"\bme quiero mor+i+r\b", r"\bquiero mor+i+r(me)?\b", r"\bme voy a matar\b", r"\bvoy a matarme\b",
    r"\bno despertar\b", r"\bya no quiero (estar aqui|vivir|existir|seguir)\b", r"\bmejor sin mi\b",
    r"\b(todas )?las pastillas\b", r"\bme corte\b", r"\bme (estoy )?cortando\b", r"\bsentido a la vida\b",
    r"\bseguir viviendo\b", r"\baventar del puente\b", r"\bme despedi de\b", r"\bir(me)? para siempre\b",
    r"\bme quiero ir para siempre\b", r"\bno aguanto mas\b.{0,30}\b(vida|morir|matar|desaparecer)",
    r"\bme quiero matar\b", r"\bmuchas pastillas\b", r"\bdesaparecer para siempre\b", r"\bquiero desaparecer\b",
    r"\b(si )?no existiera\b", r"\bhacerme dano\b", r"\bhacerme da\u00f1o\b",
    # Spanish: violence and abuse
    r"\bme (pega|pego|golpea|golpeo|ahorco|ahorca|amenaza|amenazo|viola|violo|toca|toco|lastima|lastimo|encerro)\b",
    r"\bnos (pega|golpea|golpeo|pego)\b", r"\ble pega\b", r"\b(abuso|abusa|abusaron) de\b", r"\bme violaron\b",
    r"\bme va a (matar|lastimar|quemar|pegar)\b", r"\bme persigue\b", r"\bme (esta )?siguiendo\b", r"\bviolencia (domestica|familiar)\b",
    r"\bmiedo de (volver|regresar|ir) a (mi )?casa\b", r"\bme quito el telefono\b", r"\bno me deja salir\b",
    r"\bquemar la casa\b",
    # Spanish: immediate danger
    r"\b(sobredosis|arma|pistola|cuchillo|navaja|disparo|dispararon|balazos)\b", r"\bdolor de pecho\b",
    r"\bno (respira|despierta)\b", r"\bse desmayo\b", r"\bse esta ahogando\b", r"\bse trago\b",
    r"\bse esta quemando\b", r"\btratando de entrar\b", r"\bentrando a mi casa\b", r"\bno puedo respirar\b",
]

# Figurative speech that must not count: removed from the text before the patterns run.
_FIGURATIVE = [
    r"\bkill(ing)? it\b", r"\b(would|could|i'?d) (kill|die) for\b", r"\b(is|are|was) killing (me|us|my)\b",
    r"\bgonna kill me if\b", r"\bdying to\b", r"\bdied laughing\b", r"\bkill off\b",
    r"\b(phone|car|battery) (finally )?died\b", r"\bheart attack lol\b",
    r"\bme muero de (ganas|hambre|risa|sueno)\b", r"\bme (mata|esta matando|estan matando)\b",
    r"\bmuert[oa] de (cansancio|risa|hambre)\b", r"\bde muerte\b",
]
_CRISIS = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_NOT = re.compile("|".join(f"(?:{p})" for p in _FIGURATIVE))


def is_crisis(text: str) -> bool:
    """True when the text signals self-harm, abuse or immediate danger (English or Spanish)."""
    folded = fold(text or "")
    folded = re.sub(r"[^\w\s']", " ", folded)
    folded = _NOT.sub(" ", folded)
    return bool(_CRISIS.search(folded))

"""Crisis words, caught before the NLU.

Why keywords as well as the model: a classifier trained on a few hundred examples will one day miss
a phrasing, and a missed crisis is the one error this assistant must not make. The patterns are the
safety net under the NLU (triage reports crisis when either says so). tests/test_safety.py measures both
recall and false alarms on tests/data/crisis_set.tsv and prints the figures (`pytest -s`).

How a message is checked: lower-cased, accents removed, punctuation turned into spaces; then the
figurative phrases in _FIGURATIVE are cut out ("killing it at work", "me muero de ganas", "hit me up",
"me toca trabajar"); then any pattern in _PATTERNS is a crisis. The figurative list is kept narrow on
purpose: when a phrase can be a threat ("he's gonna kill me if i leave"), only its harmless forms are
cut ("kill me if im late"), so doubt counts as a crisis.

Decisions on common look-alikes, each in the crisis set:
- "me muero de hambre" / "im starving": not a crisis. It is the everyday way to say "very hungry", and a
  resident without food is sent to food programs (the basic_needs need), which answers it better than 988.
- "kms" alone is "kill myself" in texting ("10 kms away" and "kmsl", laughing, are not).
- Money words that sound violent ("la renta se disparo", "slapped me with fees", "inflation hit us
  hard", "substance abuse" recovery) are not crises; a person as the one hitting is.
"""

from __future__ import annotations

import re

from referrals.language import fold

_ME = r"(?:my ?self|myslef|my ?slef|myelf|mysef|me)"
_KIN = (r"(?:mom|mother|dad|father|kids?|son|daughter|sister|brother|baby|friend|wife|husband|partner|"
        r"grandma|grandpa|neighbor|roommate)")

_PATTERNS = [
    # Found by a fresh batch written after the set was closed (docs/triage.md)
    r"\bnothing (left )?to live for\b", r"\b(won'?t|wont|dont|don'?t think i'?ll|not gonna) be around (much )?(longer|anymore)\b",
    r"\bin case i (don'?t|dont) make it\b", r"\b(driving|drive|crash) (my car )?into a (wall|tree)\b",
    r"\bending my life\b",
    # English: suicide and self-harm (misspellings and texting shorthand included)
    rf"\b(kill|kil|kll|kiil)(ing|in|n)? ?{_ME}\b", r"\bsee the point (anymore|any ?more|in (living|anything|life|going on|trying))\b",
    r"\bsee the point$", r"\b(whole|entire) bottle of (pills|tylenol|meds|medicine)\b", r"\bfeel like dying\b",
    r"\b(want|wanna) (to )?be dead\b", r"\bwant out of (this|my) life\b",
    r"\b(nobody|no one|noone) (would|will|is gonna|gonna) (miss|care about) me\b",
    r"\bpills\b.{0,30}\b(all at once|saved up|stockpil\w*)\b", r"\btake (them|it|em|all of them) all at once\b",
    r"\b(want|wanna|wish i could|rather) (to )?not (exist|be alive|be here|wake up)\b", r"(?<!\d )(?<!\d)\bkms\b", r"\bunalive\b", r"\bsewer ?slide\b",
    r"\bsu+[aeiy]*[cs]+[aeiy]*d+(al|le|el|ale|e|al+y)?\b", r"\bsuicid", r"\bsuacid",
    r"\bend (it all|my life|it (after|tonight|today|now|soon))\b", r"\bend it\b.{0,20}\b(tonight|today|soon|after)\b",
    r"\bend(ing)? (things|everything)\b", r"\bending it( all)?\b", r"\btake my (own )?life\b",
    r"\b(want|wanna|going|gonna|ready) (to )?die\b", r"\bwant to die\b",
    r"\b(dont|do not|don't) (want|wanna) (to )?(be (alive|here)|live|exist|wake up)\b",
    r"\b(wish|wished) (i was|i were|i wasnt|i was never|id never been|i could just) (dead|alive|born|gone|disappear)",
    r"\bbetter off (dead|without me)\b", r"\b(if|when) i (died|was dead|was gone|killed myself)\b",
    r"\bnot wake up\b", r"\bnever wake up\b", r"\bsleep (forever|and never)\b",
    r"\b(cant|can't|cannot|can not) go on\b", r"\bno (reason|point) (to|in) (live|living|keep (going|living)|go on|going on)\b",
    r"\b(cut|cutting|burn|burning|hurt|hurting) (my ?self|my (arms|wrists|legs))\b", r"\bcut my (arms|wrists)\b",
    r"\bslit (my )?wrists?\b", r"\bpoint (of|in) (going on|living)\b", r"\bpain to stop forever\b",
    r"\bdone with (life|living)\b", r"\b(jump|jumping) (off|in front of)\b", r"\bbought a (rope|gun)\b",
    r"\bhang (my ?self)\b", r"\bkill(ing)? (him|her|them)sel(f|ves)\b", r"\bwants? to die\b",
    r"\b(it|this|everything|the pain) to stop forever\b", r"\blife (isnt|isn't|is not|aint|ain't) worth\b",
    r"\bnot worth living\b", r"\bdisappear(ing)? (for good|forever)\b", r"\b(wanna|want to|going to|gonna) end it\b",
    r"\btak(e|ing) my (own )?life\b", r"\bod ?'?ing\b", r"\b(overdos(e|ed|ing)|od'?ing|od'?d)\b", r"\bhow many pills\b",
    r"\btook (a bunch of|all (my|the)|too many|\d+) pills\b", r"\b(tome|tomo|tomar|tomarme) (\d+|muchas|todas) pastillas\b",
    r"\bgiving my stuff away\b", r"\bno reason to live\b", r"\btake them all\b",
    r"\b(miss|remember) me (if|when) i('?m| was| am)? gone\b", r"\b(been |keep )?cutting (again|myself)\b",
    r"\bmy last night\b", r"\bgoodbye (letter|note)\b", r"\bdisappear (for good|forever)\b",
    r"\bdriv(e|ing) off (a|the) (bridge|cliff|road)\b", r"\bhurt(ing)? myself\b", r"\bself ?harm\b",
    # English: violence and abuse
    rf"\b(hits?|beats?|beat|punche[sd]|punch|chok(es|ed|ing)|strangl(es|ed|ing)|push(es|ed)?|shov(es|ed)|"
    rf"slap(s|ped)?|kick(s|ed)?|threw|throws|drag(s|ged)) (me|us|my ((little|baby|big|older|younger) )?{_KIN})\b",
    r"\b(hurts|hurt|touches|touched|touching|grabbed|grabs|abuses|abused|raped|rapes|molested|forced) (me|us)\b",
    r"\b(sexually )?(assaulted|raped)\b", r"\bmolest\w*\b", r"\block(s|ed)? (me|us) (in|up|inside)\b", r"\babus(e|ed|ing|ive|er)\b",
    r"\b(kill|hurt|stab|shoot) (me|us|you|someone|my)\b", r"\b(said|says|threat\w*).{0,40}\b(kill|hurt|burn)\b",
    r"\bfollowing me\b", r"\btracks my phone\b", r"\bstalk(s|ed|ing)? (me|us|my)\b", r"\bstalker\b",
    r"\bscared to go home\b", r"\b(scared|afraid|terrified) (of|for) (my|him|her) ?(husband|wife|partner|boyfriend|"
    r"girlfriend|bf|gf|ex|dad|father|stepdad|mom|mother|life)?\b",
    r"\b(dont|don't|do not|never) feel safe\b", r"\bnot safe (at home|with|here|in my)\b",
    r"\bbruised\b", r"\bmarks\b.{0,20}\b(belt|hit)\b|\b(belt)\b.{0,20}\bmarks\b",
    r"\bforced (himself|herself|themselves) on\b", r"\b(i'?m|im|i am|we'?re|we are) not safe\b",
    r"\bthreat(ens|ened|ening) (me|us)\b", r"\b(being|been|was|were|am|im|i'?m) traffick(ed|ing)?\b",
    r"\b(human|sex|labor) trafficking\b", r"\b(force|forces|forced|forcing|make|makes|made) (me|us)\b.{0,20}\bsex\b",
    r"\bdomestic (violence|abuse)\b", r"\bhits my\b", r"\b(wont|won't|doesnt|doesn't|will not) let me leave\b",
    r"\btook my phone\b.{0,30}\b(leave|out)\b|\b(leave|out)\b.{0,30}\btook my phone\b",
    # English: immediate danger and medical emergency
    r"\b(gun|guns|knife|knives|pistol|shooting|shooter|stabbed|stab|stabbing)\b",
    r"\b(got|been|was|were) shot\b|\bshot (me|him|her|at|someone|my (brother|son|sister|friend|dad|mom|neighbor))\b",
    r"\bchest pain\b", r"\b(is not|isnt|isn't|not|stopped) breathing\b", r"\bcollapsed\b", r"\bunconscious\b",
    r"\bhaving a (heart attack|stroke|seizure)\b", r"\bseizure\b",
    r"\bswallowed (bleach|pills|poison)\b", r"\bbleeding (a lot|badly)\b|\bhead is bleeding\b",
    r"\bfire in (my|the|our) (building|house|apartment|home)\b", r"\b(house|building|apartment) (is )?on fire\b",
    r"\btrying to (get|break) in\b", r"\b(wont|won't|isnt|isn't|not) waking up\b", r"\bwont wake up\b",
    r"\bbr(eak|eaking|oke) ?in(to)? my\b", r"\bcant breathe\b|\bcan't breathe\b|\bcannot breathe\b",
    r"\bi'?m in danger\b|\bim in danger\b|\b(we are|were|we're|i am) in danger\b",
    # Spanish (accents folded): suicide and self-harm; "kiero" is texting for "quiero"
    r"\b(matarme|suicidarme|suisidarme|suicidar|suisidar|suicidio|suicida)\b", r"\bquitar(me)? la vida\b",
    r"\bme (quiero|kiero) mor+i+r\b", r"\b(quiero|kiero) mor+i+r(me)?\b", r"\bme voy a matar\b",
    r"\bvoy a matarme\b", r"\bme (quiero|kiero) matar\b", r"\bme mato\b",
    r"\b(quiero|kiero|quisiera) estar muert[oa]\b", r"\bojala (me muera|me muriera|no despierte|no despertar)\b",
    r"\bno despertar\b", r"\bno (quiero|kiero) (estar aqui|vivir|existir|seguir)\b",
    r"\bmejor sin mi\b", r"\b(todas las|todas mis|muchas|un monton de|un bote de) pastillas\b",
    r"\b(aventar(me)?|tirarme|lanzarme) (de|del|al) (un |una |el |la )?(puente|edificio|tren|metro|azotea)\b",
    r"\bme (corte|cortare) (las venas|los brazos|las munecas|otra vez|de nuevo)\b|\bme corte$",
    r"\bcortarme( las venas)?\b", r"\bme (estoy )?cortando\b", r"\bsentido a (la vida|vivir|seguir|nada)\b",
    r"\btengo (las|unas|muchas) pastillas (aqui|listas|guardadas)\b",
    r"\b(para que|no quiero|no vale la pena|sin ganas de) seguir viviendo\b", r"\baventar del puente\b",
    r"\bme despedi de\b", r"\bir(me)? para siempre\b", r"\bno aguanto mas\b.{0,30}\b(vida|morir|matar|desaparecer)",
    r"\bdesaparecer para siempre\b", r"\bquiero desaparecer\b", r"\b(si )?no existiera\b",
    r"\bhacerme dano\b", r"\bhacerme da\u00f1o\b", r"\bnadie me (extranaria|extra\u00f1aria)\b",
    r"\bsi me muero\b", r"\b(no tengo|sin|ni) ganas de vivir\b", r"\bme las (quiero|voy a) tomar todas\b",
    r"\btomarme(las)? todas\b", r"\bque todo (termine|se acabe)\b", r"\bno hay (razon|motivo) para (seguir|vivir)\b",
    r"\bcarta de despedida\b", r"\bvida no vale la pena\b|\bno vale la pena vivir\b",
    r"\bme (sigo|volvi a) cort\w*\b", r"\b(hacerme|me hago|me hice|me voy a hacer) (dano|da\u00f1o)\b",
    r"\bautolesi", r"\bcans(e|ada|ado) de vivir\b", r"\bacabar con (mi vida|todo)\b(?! (el|la|los|las|mi|mis)\b)",
    r"\bcuantas pastillas\b", r"\bno (quiero|kiero) (despertar|estar en este mundo)\b",
    r"\bse (quiere|va a|kiere) (matar|morir|suicidar)\b",
    # Spanish: violence and abuse
    r"\bme (pega|pego|golpea|golpeo|golpean|ahorco|ahorca|amenaza|amenazo|viola|violo|toca|toco|tocan|lastima|"
    r"lastimo|encerro|maltrata|maltrato|maltratan|empuja|empujo|jalonea|forzo|obligo a tener|estrangulo|estrangula)\b",
    r"\b(obliga|obligo|obligan|forzo|fuerza)\b.{0,25}\b(sexo|relaciones)\b", r"\b(que|miedo)\b.{0,30}\bme (mate|maten|lastime|pegue)\b",
    r"\bsi lo dejo\b.{0,20}\bmata\b", r"\bme tienen obligad[oa]\b", r"\bno me (deja|dejan) (salir|ir)\b",
    r"\bno (estoy|estamos) a salvo\b", r"\b(me|nos) (esta |viene |anda |vienen |andan )?siguiendo\b",
    r"\bme (da|dio|dan) (golpes|cachetadas|patadas)\b", r"\bme quiere (matar|pegar|lastimar)\b",
    r"\bnos (pega|golpea|golpeo|pego|maltrata|amenaza|amenazo)\b", r"\ble pega\b", r"\b(abuso|abusa|abusaron|abusando) de\b",
    r"\bme violaron\b", r"\bme va a (matar|lastimar|quemar|pegar)\b", r"\bme persigue\b",
    r"\bme (esta )?siguiendo\b", r"\bviolencia (domestica|familiar)\b",
    r"\bmiedo de (volver|regresar|ir) a (mi )?casa\b", r"\bmiedo (de|a) mi (esposo|marido|pareja|novio|ex|papa|"
    r"padrastro|padre)\b", r"\bme quito el telefono\b", r"\bno me deja salir\b", r"\bquemar la casa\b",
    r"\bno estoy segur[oa] (en|con) (mi casa|el|ella|mi (esposo|marido|pareja|novio))\b",
    # Spanish: immediate danger
    r"\b(sobredosis|pistola|cuchillo|navaja|balazos|balacera|balearon|disparando|dispararon|disparo)\b",
    r"(?<!me )(?<!te )(?<!le )(?<!se )(?<!nos )\barma\b", r"\bdolor (de|en el) pecho\b",
    r"\bno (respira|despierta|responde)\b", r"\bse desmayo\b", r"\binconsciente\b", r"\bse esta ahogando\b", r"\bse (lo|la|los|las) trago\b",
    # Someone swallowed something dangerous (not "the parking meter swallowed my coins").
    r"\bse trago (algo|veneno|pastillas|una pastilla|pildoras|medicinas?|cloro|lejia|blanqueador|detergente|"
    r"jabon|quimicos|una pila|unas pilas|pilas|una moneda|unas monedas|un iman|imanes|un juguete|una pieza|un hueso)\b",
    r"\b(dando|dio|tiene) un (infarto|derrame)\b", r"\bconvulsion", r"\bincendi(o|ando)\b",
    r"\bse esta quemando\b", r"\btratando de entrar\b", r"\bentrando a mi casa\b", r"\bno puedo respirar\b",
    r"\barmad[oa]s?\b", r"\bno (esta )?respira(ndo)?\b", r"\bmeter(se)? a mi casa\b",
    r"\bse (quiere|quieren) meter\b", r"\bapu(n|\u00f1)al", r"\bsangrando (mucho|bastante)\b|\bse esta desangrando\b",
    r"\bestoy en peligro\b", r"\bestamos en peligro\b", r"\bse metio a mi casa\b", r"\bse metieron a mi casa\b",
]

# Figurative speech that must not count: cut out of the text before the patterns run.
_FIGURATIVE = [
    r"\bkill(ing)? it\b", r"\b(would|could|i'?d) (kill|die) for\b",
    r"\b(is|are|was) (slowly |really |literally )?killing (me|us|my)\b",
    r"\bkill (me|us) if (i'?m|im|i am|were|we'?re) late\b", r"\bkill (me|us) if i (forget|miss|spend|lose)\b",
    r"\b(job|work|hours|shifts?|rent|bills?|commute|heat|prices|taxes|traffic|class(es)?|school|paperwork|these \w+|"
    r"this \w+) (is |are |will |'ll |gonna |going to )+kill (me|us)\b",
    r"\bdying to\b", r"\bdied laughing\b", r"\bkill off\b", r"\bkmsl\b", r"\bdie of (embarrassment|boredom)\b",
    r"\b(phone|car|battery|laptop) (finally )?died\b", r"\bheart attack lol\b",
    r"\bhit (me|us) (up|back)\b", r"\bbeat (me|us) to\b", r"\bpush(ed|es)? (me|us) to\b",
    r"\bkick(ed|s)? (me|us) out\b", r"\b(inflation|recession|covid|pandemic|economy|prices|rent|bills|taxes|layoffs|"
    r"cuts|shutdown|strike|hike|increase|fees|interest|debt|loans?|bills?|it|that|this) "
    r"(really |just |also |have |has )?(hit|hurt|hurts) (me|us)\b",
    r"\bkill (my|the|this|that|off) (\w+ ){0,2}(debt|bills?|loans?|balance|cards?|budget|credit)\b",
    r"\b(a|another|fair|good|real|best|big|second) shot at\b",
    r"\b(inflacion|crisis|pandemia|economia|renta|precios|deudas|covid) (\w+ )?(nos|me) (golpeo|golpea|pego|pega)\b",
    r"\bme pega (el|la) (sol|calor|frio|gripa|gripe|hambre|sueno)\b", r"\bslap(ped|s)? (me|us) with\b", r"\bit hurts (me|us) to\b",
    r"\b(substance|drug|alcohol|opioid) abuse\b", r"\b(knife|gun|firearm) (sharpening|shop|store|range|show|safety|license|permit|training|class|certification)\b",
    r"\bshooting (for|a (commercial|video|photos?))\b", r"\bphoto shoot\b", r"\bshot my (resume|application|shot)\b",
    r"\bgave it a shot\b", r"\b(take|took|taking) a (stab|shot) at\b", r"\bcredit is shot\b",
    r"\b(business|market|sales|company|economy|deal|plans?) (has |just )?collapsed\b",
    r"\b(did ?n[o']?t|didnt|couldnt|could not|can'?t|cant) wake up\b", r"\bwake up (on time|in time|early|for)\b",
    r"\bmy last night (shift|at|working|of work)\b", r"\btrying to get in the door at\b",
    r"\btrying to get in(to)? (the|a) (union|program|class|trades?|apprenticeship|school|college)\b",
    r"\bin danger of\b", r"\bfire in my belly\b",
    r"\bme muero de (ganas|hambre|risa|sueno|calor|frio|verguenza)\b", r"\bmorir de (la )?(risa|verguenza|hambre|ganas)\b",
    r"\bme mata (el|la|los|las|con|de)\b", r"\bme (esta|estan) matando\b", r"\bmata de risa\b",
    r"\bme mata si (llego tarde|no llego|falto)\b", r"\bfuerzas armadas\b", r"\b(guardia|guardias|seguridad)( de seguridad)? armad[oa]s?\b", r"\bme tocan? (al|por|cada)\b",
    r"\bcort\w* el (pelo|cabello)\b", r"\bdrug traffick\w*\b",
    r"\bthreat\w* (me |us )?(with|to) (evict\w*|collections?|sue|court|fire|report|garnish\w*|repo\w*|tow\w*)\b",
    r"\bmuert[oa] de (cansancio|risa|hambre)\b", r"\bde muerte\b",
    r"\bme va a matar si (llego tarde|no llego|falto)\b",
    r"\bme toca(ba)? (\w*(ar|er|ir)|el turno|la noche)\b", r"\bme toco (un|una|el|la) (jefe|trabajo|turno|horario|suerte)\b",
    r"\bme corte el (pelo|cabello)\b", r"\bse disparo\b|\bse dispararon\b|\bse disparan\b",
    r"\b(me|nos) amenaza(n|ron)? con (embargar|embargo|demandar|demanda|desalojar|desalojo|correr|despedir|cobrar|quitarme)\b",
    r"\bme lastima(n)? (la|el|los|las) (espalda|pie|pies|rodilla|rodillas|mano|manos|cuello|brazo|hombro)\b",
    r"\bseguir viviendo (aqui|en|alli|ahi)\b", r"\bvivir (aqui|en|alli|ahi|cerca|lejos)\b",
    r"\bno estoy segur[oa] (si|de|que)\b", r"\ben peligro de\b", r"\bseguro (contra|de) incendio\b",
]
_CRISIS = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_NOT = re.compile("|".join(f"(?:{p})" for p in _FIGURATIVE))
_SPACED_LETTERS = re.compile(r"\b[a-z](?: [a-z]\b){2,}")


def is_crisis(text: str) -> bool:
    """True when the text signals self-harm, abuse or immediate danger (English or Spanish)."""
    folded = fold(text or "")
    folded = re.sub(r"[^\w\s']", " ", folded)
    folded = re.sub(r"\s+", " ", folded).strip()
    folded = _NOT.sub(" ", folded)
    # "k m s", "d i e": letters spaced out (or dotted) to get past filters, read both ways.
    joined = _SPACED_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), folded)
    return bool(_CRISIS.search(folded) or (joined != folded and _CRISIS.search(joined)))

"""The demo municipalities' fixed tables: organisations, logins, names and clinical texts.

Copenhagen is the demo; Frederiksberg, a smaller neighbour served by the same palliative unit and
regional team, is there to show (and test) that nothing crosses from one to the other. Every person
here is fictional. `backend.demo` turns these tables into rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from backend.cases.models import HomeDeathWish, Indication, Place, ReferralSource
from backend.people.models import Role

PASSWORD = "lindra-demo-2026"
EMAIL_DOMAIN = "demo.lindra.dk"
SEED = 2026

MUNICIPALITY_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
NORREBRO_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")
AMAGER_ID = uuid.UUID("00000000-0000-4000-8000-000000000003")
TEAM_ID = uuid.UUID("00000000-0000-4000-8000-000000000004")
UNIT_ID = uuid.UUID("00000000-0000-4000-8000-000000000005")
NEIGHBOUR_ID = uuid.UUID("00000000-0000-4000-8000-000000000006")
FREDERIKSBERG_ID = uuid.UUID("00000000-0000-4000-8000-000000000007")

MUNICIPALITY_NAME = "Københavns Kommune (demo)"
# (id, kind, name); the districts belong to the municipality, the two providers serve it.
DISTRICTS = (
    (NORREBRO_ID, "Nørrebro hjemmesygepleje"),
    (AMAGER_ID, "Amager hjemmesygepleje"),
)
PROVIDERS = (
    (TEAM_ID, "palliative_team", "Palliativt Team Region Hovedstaden (demo)"),
    (UNIT_ID, "palliative_unit", "Afdeling for Lindring – Kbh (demo)"),
)

# (e-mail local part, full name, role, organisation, palliative skilled)
# A nurse's organisation is her district, and she is placed in that district.
UserRow = tuple[str, str, Role, uuid.UUID, bool]
USERS: tuple[UserRow, ...] = (
    ("sygeplejerske.norrebro1", "Mette Kjærgaard", Role.NURSE, NORREBRO_ID, True),
    ("sygeplejerske.norrebro2", "Jonas Bech", Role.NURSE, NORREBRO_ID, False),
    ("sygeplejerske.norrebro3", "Aisha Rahimi", Role.NURSE, NORREBRO_ID, True),
    ("sygeplejerske.amager1", "Louise Holmgaard", Role.NURSE, AMAGER_ID, True),
    ("sygeplejerske.amager2", "Kasper Lunde", Role.NURSE, AMAGER_ID, False),
    ("sygeplejerske.amager3", "Signe Dahlberg", Role.NURSE, AMAGER_ID, False),
    ("koordinator1", "Birgitte Krogsgaard", Role.COORDINATOR, MUNICIPALITY_ID, False),
    ("koordinator2", "Henrik Skovbo", Role.COORDINATOR, MUNICIPALITY_ID, False),
    ("noegleperson1", "Camilla Vestergaard", Role.KEY_PERSON, MUNICIPALITY_ID, True),
    ("noegleperson2", "Rasmus Thygesen", Role.KEY_PERSON, MUNICIPALITY_ID, True),
    ("lindring", "Anne Friis, overlæge", Role.PALLIATIVE_UNIT, UNIT_ID, True),
    ("palliativt.team", "Peter Brink, overlæge", Role.PALLIATIVE_UNIT, TEAM_ID, True),
    ("admin", "Demo Administrator", Role.ADMIN, MUNICIPALITY_ID, False),
)
# The unit's own administrator: she manages its staff, who serve both municipalities.
PROVIDER_ADMINS: tuple[UserRow, ...] = (("admin.lindring", "Lindring Administrator", Role.ADMIN, UNIT_ID, False),)
NEIGHBOUR_NAME = "Frederiksberg Kommune (demo)"
NEIGHBOUR_DISTRICTS = ((FREDERIKSBERG_ID, "Frederiksberg hjemmesygepleje"),)
NEIGHBOUR_USERS: tuple[UserRow, ...] = (
    ("sygeplejerske.frederiksberg1", "Maja Winther", Role.NURSE, FREDERIKSBERG_ID, True),
    ("sygeplejerske.frederiksberg2", "Emil Saxtorph", Role.NURSE, FREDERIKSBERG_ID, False),
    ("koordinator.frederiksberg", "Susanne Falk", Role.COORDINATOR, NEIGHBOUR_ID, False),
    ("noegleperson.frederiksberg", "Tove Rask", Role.KEY_PERSON, NEIGHBOUR_ID, True),
    ("admin.frederiksberg", "Frederiksberg Administrator", Role.ADMIN, NEIGHBOUR_ID, False),
)

# How many cases of each status have which referral timeliness (shuffled, seeded):
#   on_time / late                         first contact and assessment met on time / after the deadline
#   contact_soon / contact_overdue         no first contact yet; due within 2 working days / passed
#   assessment_soon / assessment_overdue   contacted, not assessed; due within 2 working days / passed
CASE_PLAN = {
    "referred": {"contact_soon": 3, "contact_overdue": 3, "assessment_soon": 2},
    "active": {"on_time": 11, "late": 3, "assessment_overdue": 2, "assessment_soon": 2},
    "admitted": {"on_time": 3, "late": 1},
    "deceased": {"on_time": 4, "late": 2},
    "closed": {"on_time": 3, "late": 1},
}
NEIGHBOUR_CASE_PLAN = {
    "referred": {"contact_soon": 1},
    "active": {"on_time": 2, "late": 1},
    "deceased": {"on_time": 1},
    "closed": {"on_time": 1},
}


@dataclass(frozen=True)
class Municipality:
    """One demo municipality: its districts, cases, and who is on its roster."""

    id: uuid.UUID
    name: str
    districts: tuple[tuple[uuid.UUID, str], ...]
    users: tuple[UserRow, ...]  # its own, and for Copenhagen the providers' staff too
    case_plan: dict[str, dict[str, int]]
    key_persons: tuple[str, ...]  # e-mail local parts; the cases take them in turn
    coordinators: tuple[str, str]  # on the roster by day and evening, and by night


MUNICIPALITIES = (
    Municipality(
        MUNICIPALITY_ID,
        MUNICIPALITY_NAME,
        DISTRICTS,
        USERS,
        CASE_PLAN,
        ("noegleperson1", "noegleperson2"),
        ("koordinator1", "koordinator2"),
    ),
    Municipality(
        NEIGHBOUR_ID,
        NEIGHBOUR_NAME,
        NEIGHBOUR_DISTRICTS,
        NEIGHBOUR_USERS,
        NEIGHBOUR_CASE_PLAN,
        ("noegleperson.frederiksberg",),
        ("koordinator.frederiksberg", "koordinator.frederiksberg"),
    ),
)
ALL_USERS = USERS + NEIGHBOUR_USERS + PROVIDER_ADMINS

# Referral sources in turn: hospitals refer most, then GPs.
SOURCES = tuple(
    ReferralSource(s)
    for s in "hospital_ref01 gp_ref01 hospital_ref01 municipal citizen hospital_ref01 gp_ref01 relative".split()
)
# Deceased cases in turn: what they wished, and where they died.
DEATHS = (
    (HomeDeathWish.YES, Place.HOME),
    (HomeDeathWish.YES, Place.HOME),
    (HomeDeathWish.YES, Place.HOSPITAL),
    (HomeDeathWish.YES, Place.HOME),
    (HomeDeathWish.NO, Place.HOSPICE),
    (HomeDeathWish.YES, Place.HOSPITAL),
)
# Every fifth case has a child or grandchild under 18; whether support was offered, in turn.
CHILD_SUPPORT = (True, False, None, True)
# The phases of each status's cases, in turn.
PHASES_BY_STATUS = {
    "referred": ("early", "late", "early", "late", "terminal"),
    "active": ("early", "late", "terminal"),
    "admitted": ("late", "terminal"),
    "deceased": ("terminal",),
    "closed": ("early", "late"),
}

# (diagnosis, ICD-10, hospital department, only for "f"emale / "m"ale citizens or "" for all)
DIAGNOSES = (
    ("Lungekræft", "C34.9", "Lungemedicinsk Afdeling, Bispebjerg Hospital", ""),
    ("Brystkræft med spredning", "C50.9", "Onkologisk Klinik, Rigshospitalet", "f"),
    ("Bugspytkirtelkræft", "C25.9", "Kirurgisk Gastroenterologisk Afdeling, Rigshospitalet", ""),
    ("Prostatakræft med knoglemetastaser", "C61", "Urologisk Afdeling, Herlev Hospital", "m"),
    ("ALS (amyotrofisk lateral sklerose)", "G12.2", "Neurologisk Klinik, Rigshospitalet", ""),
    ("KOL, svær", "J44.9", "Lungemedicinsk Afdeling, Hvidovre Hospital", ""),
    ("Tyktarmskræft med levermetastaser", "C18.9", "Onkologisk Afdeling, Herlev Hospital", ""),
    ("Hjernesvulst (glioblastom)", "C71.9", "Onkologisk Klinik, Rigshospitalet", ""),
    ("Æggestokkræft", "C56", "Gynækologisk Klinik, Rigshospitalet", "f"),
    ("Hjertesvigt, svært", "I50.9", "Kardiologisk Afdeling, Bispebjerg Hospital", ""),
)

FEMALE_NAMES = "Inger Kirsten Hanne Grethe Bente Lis Jytte Ruth Birthe Karen Else Annette Lone Fatma".split()
MALE_NAMES = "Jens Poul Erik Ole Bent Finn Knud Svend Leif Mogens Torben Flemming Preben Ahmed Niels".split()
SURNAMES = (
    "Fiskbæk Ravnholt Løvgreen Bjerremose Stensgaard Kærsholm Hvidtfeldt Munkholm Egebjerg Lindvad Solgaard "
    "Brøndum Tornhøj Vindelev Ågaard Kildegaard Mosbæk Hjortshøj Elmquist Rosenlund Skårup Nørgaard Bramsen"
).split()
SIDES = ("th.", "tv.")  # which door on the landing
# Each district's postcode and town, and some of its streets.
STREETS = {
    NORREBRO_ID: ("2200 København N", "Nørrebrogade Jagtvej Blågårdsgade Fælledvej Rantzausgade".split()),
    AMAGER_ID: ("2300 København S", "Amagerbrogade Holmbladsgade Englandsvej Øresundsvej Italiensvej".split()),
    FREDERIKSBERG_ID: ("2000 Frederiksberg", "Gammel Kongevej Falkoner Allé Godthåbsvej Howitzvej Smallegade".split()),
}
# Each district's general practitioners.
GPS = {
    NORREBRO_ID: (
        ("Læge Line Bach, Lægehuset Nørrebro", "+45 3535 0101"),
        ("Læge Omar Haddad, Lægerne Jagtvej", "+45 3535 0202"),
        ("Læge Karen Mølby, Fælledvejens Lægehus", "+45 3535 0303"),
    ),
    AMAGER_ID: (
        ("Læge Søren Vang, Amager Lægecenter", "+45 3258 0404"),
        ("Læge Ida Kirk, Lægerne Holmbladsgade", "+45 3258 0505"),
        ("Læge Thomas Berg, Sundby Lægehus", "+45 3258 0606"),
    ),
    FREDERIKSBERG_ID: (
        ("Læge Anders Juul, Lægehuset Falkoner", "+45 3834 0707"),
        ("Læge Nadia Sørensen, Lægerne Godthåbsvej", "+45 3834 0808"),
        ("Læge Hans Krag, Gammel Kongevejs Lægehus", "+45 3834 0909"),
    ),
}

# indication -> (drug, strength); all given subcutaneously
MEDICINES = {
    Indication.PAIN: ("Morfin", "10 mg/ml"),
    Indication.BREATHLESSNESS: ("Morfin", "5 mg/ml"),
    Indication.NAUSEA: ("Haloperidol", "5 mg/ml"),
    Indication.RESTLESSNESS: ("Midazolam", "5 mg/ml"),
    Indication.DEATH_RATTLE: ("Glycopyrron", "0,2 mg/ml"),
}
# What is wrong with the medicine in the home of each terminal case in turn: an indication
# missing, something expiring within a week, something expired, or nothing.
MEDICINE_GAPS = (
    ("missing", (Indication.DEATH_RATTLE, Indication.RESTLESSNESS)),
    ("expiring", (Indication.PAIN,)),
    ("ok", ()),
    ("expired", (Indication.NAUSEA,)),
    ("missing", (Indication.BREATHLESSNESS,)),
    ("ok", ()),
)

ACTION_PLANS = {
    "early": (
        "Træthed og nedsat appetit; ægtefællen er bekymret for, hvad der skal ske.",
        "At borgeren kan leve så godt som muligt i eget hjem med en fast kontaktperson.",
    ),
    "late": (
        "Tiltagende smerter og åndenød ved aktivitet; behov for hjælp til personlig pleje.",
        "Lindring i hjemmet og en plan for natten, så en akut indlæggelse kan undgås.",
    ),
    "terminal": (
        "Sengeliggende, uro om natten, trætte pårørende. PN-medicin skal være i hjemmet.",
        "En tryg død i eget hjem som ønsket, med sygepleje døgnet rundt og støtte til familien.",
    ),
}
NOTES = {
    "early": "Første samtale holdt i hjemmet. Borgeren klarer sig selv og vil bevare hverdagen længst muligt.",
    "late": "Tiltagende smerter i ryggen, ESAS-r smerte 6. Egen læge har øget den faste dosis.",
    "terminal": "Borgeren er nu sengeliggende og spiser kun lidt. Familien er informeret om det forventede forløb.",
    "night": "Urolig i nat; PN-midazolam givet kl. 02.40 med god effekt. Ægtefællen fik sovet.",
    "admitted": "Indlagt akut i nat med åndenød. Kontaktpersonen følger op med afdelingen om udskrivelse til hjemmet.",
    "died_home": "Døde stille i eget hjem som ønsket, med familien hos sig. Efterladtesamtale er aftalt.",
    "died_hospital": "Indlagt akut med voldsom åndenød og døde på hospitalet, selv om ønsket var at dø "
    "hjemme. Forløbet gennemgås på næste tavlemøde.",
    "closed": "Afsluttende samtale holdt; afslutningsnotat sendt til egen læge og hospitalsafdelingen.",
}
DISCUSSED_WITH = (
    "Borgeren og ægtefællen",
    "Borgeren, datteren og egen læge",
    "Borgeren alene",
    "Borgeren og sønnen",
    "Borgeren og kontaktpersonen",
)
DEATH_PRESENT = (
    "Ægtefællen og datteren",
    "Sønnen og nattevagten",
    "Ægtefællen",
    "Ingen – fundet om morgenen",
)
TALKS_WITH_CHILD = (
    "Mor og sundhedsplejersken",
    "Far og skolens AKT-lærer",
    "Kræftens Bekæmpelses børnerådgivning",
)

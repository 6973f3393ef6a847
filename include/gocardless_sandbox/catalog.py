"""Reference data for generated records: countries, schemes, banks, names, products.

Country weights follow GoCardless' footprint (GBP and EUR dominate); each country fixes the
currency and Direct Debit scheme of its bank accounts, mandates and payments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    currency: str
    scheme: str
    weight: float
    language: str
    banks: tuple[str, ...]
    cities: tuple[str, ...]


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("GB", "GBP", "bacs", 0.38, "en", ("BARCLAYS BANK PLC", "HSBC UK BANK PLC", "LLOYDS BANK PLC", "MONZO BANK LTD", "NATIONWIDE BUILDING SOCIETY"), ("London", "Manchester", "Leeds", "Bristol", "Glasgow")),
        Country("FR", "EUR", "sepa_core", 0.07, "fr", ("BNP PARIBAS", "SOCIETE GENERALE", "CREDIT AGRICOLE"), ("Paris", "Lyon", "Marseille")),
        Country("DE", "EUR", "sepa_core", 0.09, "de", ("DEUTSCHE BANK", "COMMERZBANK", "N26 BANK"), ("Berlin", "Hamburg", "Munich")),
        Country("ES", "EUR", "sepa_core", 0.04, "es", ("BANCO SANTANDER", "BBVA", "CAIXABANK"), ("Madrid", "Barcelona", "Valencia")),
        Country("IT", "EUR", "sepa_core", 0.04, "it", ("INTESA SANPAOLO", "UNICREDIT"), ("Milan", "Rome", "Turin")),
        Country("NL", "EUR", "sepa_core", 0.04, "nl", ("ING BANK", "RABOBANK", "ABN AMRO"), ("Amsterdam", "Rotterdam", "Utrecht")),
        Country("BE", "EUR", "sepa_core", 0.02, "nl", ("KBC BANK", "BELFIUS"), ("Brussels", "Antwerp")),
        Country("IE", "EUR", "sepa_core", 0.02, "en", ("BANK OF IRELAND", "AIB"), ("Dublin", "Cork")),
        Country("PT", "EUR", "sepa_core", 0.01, "pt", ("MILLENNIUM BCP", "NOVO BANCO"), ("Lisbon", "Porto")),
        Country("FI", "EUR", "sepa_core", 0.01, "fi", ("NORDEA BANK", "OP BANK"), ("Helsinki", "Espoo")),
        Country("AT", "EUR", "sepa_core", 0.01, "de", ("ERSTE BANK", "RAIFFEISEN"), ("Vienna", "Graz")),
        Country("SE", "SEK", "autogiro", 0.05, "sv", ("SWEDBANK", "HANDELSBANKEN", "SEB"), ("Stockholm", "Gothenburg", "Malmo")),
        Country("DK", "DKK", "betalingsservice", 0.04, "da", ("DANSKE BANK", "JYSKE BANK"), ("Copenhagen", "Aarhus")),
        Country("AU", "AUD", "becs", 0.07, "en", ("COMMONWEALTH BANK", "WESTPAC", "ANZ"), ("Sydney", "Melbourne", "Brisbane")),
        Country("NZ", "NZD", "becs_nz", 0.03, "en", ("ASB BANK", "KIWIBANK"), ("Auckland", "Wellington")),
        Country("CA", "CAD", "pad", 0.04, "en", ("ROYAL BANK OF CANADA", "TD CANADA TRUST"), ("Toronto", "Vancouver", "Montreal")),
        Country("US", "USD", "ach", 0.04, "en", ("CHASE BANK", "BANK OF AMERICA", "WELLS FARGO"), ("New York", "Chicago", "Austin")),
    )
}

CURRENCIES = ("GBP", "EUR", "SEK", "DKK", "AUD", "NZD", "CAD", "USD")
SCHEME_BY_CURRENCY = {c.currency: c.scheme for c in COUNTRIES.values()}
CURRENCY_BY_SCHEME = {c.scheme: c.currency for c in COUNTRIES.values()}
HOME_COUNTRY_BY_CURRENCY = {"GBP": "GB", "EUR": "FR", "SEK": "SE", "DKK": "DK", "AUD": "AU", "NZD": "NZ", "CAD": "CA", "USD": "US"}

#: Typical payment size by currency, in minor units (SEK and DKK are ~10x GBP).
AMOUNT_SCALE = {"GBP": 1.0, "EUR": 1.15, "SEK": 12.0, "DKK": 8.5, "AUD": 1.9, "NZD": 2.1, "CAD": 1.7, "USD": 1.25}

#: Bank reason codes per scheme and cause (the codes GoCardless passes on in ``details``).
REASON_CODES = {
    "bacs": {"insufficient_funds": "ARUDD-0", "refer_to_payer": "ARUDD-0", "bank_account_closed": "ARUDD-B", "authorisation_disputed": "DDICA-1", "invalid_bank_details": "ADDACS-5", "mandate_cancelled": "ADDACS-1"},
    "sepa_core": {"insufficient_funds": "AM04", "refer_to_payer": "MS03", "bank_account_closed": "AC04", "authorisation_disputed": "MD06", "invalid_bank_details": "AC01", "mandate_cancelled": "MD01"},
    "ach": {"insufficient_funds": "ACH_RETURN-R01", "refer_to_payer": "ACH_RETURN-R08", "bank_account_closed": "ACH_RETURN-R02", "authorisation_disputed": "ACH_RETURN-R10", "invalid_bank_details": "ACH_RETURN-R03", "mandate_cancelled": "ACH_RETURN-R07"},
}
FAILURE_CAUSES = (
    ("insufficient_funds", "The customer's account had insufficient funds to make this payment."),
    ("refer_to_payer", "The customer's bank asked them to contact their bank (refer to payer)."),
    ("bank_account_closed", "The customer's bank account was closed."),
)

GIVEN_NAMES = ("Olivia", "Noah", "Amelia", "Liam", "Isla", "Lucas", "Emma", "Hugo", "Sofia", "Leon", "Mia", "Elias", "Freya", "Oscar", "Alice", "Jack", "Chloe", "Mateo", "Ella", "Finn", "Nora", "Theo", "Lena", "Arthur")
FAMILY_NAMES = ("Smith", "Jones", "Martin", "Müller", "Garcia", "Rossi", "de Vries", "Andersson", "Hansen", "Murphy", "Silva", "Virtanen", "Wilson", "Taylor", "Brown", "Lambert", "Schmidt", "Lopez", "Bianchi", "Jensen")
COMPANY_SUFFIXES = ("Ltd", "GmbH", "SARL", "BV", "AB", "ApS", "Pty Ltd", "Inc.")
STREETS = ("High Street", "Station Road", "Church Lane", "Main Street", "Park Avenue", "Mill Road", "King Street")

MERCHANT_NAMES = ("Acme Fitness", "Nimbus Software", "Green Leaf Veg Boxes", "Harbour Gym", "Brightside Insurance", "Pixel Learning", "Oakwood Lettings", "Northern Water Co", "Rolling Pin Bakery", "Cobalt Coworking", "Summit Climbing", "Lumen Energy")
PRODUCTS = ("Gold membership", "Standard plan", "Premium plan", "Weekly veg box", "Annual licence", "Team seat", "Pro subscription", "Starter plan", "Family membership", "Support contract")
ONE_OFF_DESCRIPTIONS = ("Joining fee", "Invoice payment", "Equipment purchase", "Late fee", "Top-up", "Workshop ticket", "Annual service", "Upgrade charge")

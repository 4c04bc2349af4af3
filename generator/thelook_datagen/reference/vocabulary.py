"""Per-category shares, price curves and the words product names are built from.

Shares follow the shape of theLook's catalogue (which categories each department sells, and
roughly how many products each has); prices are lognormal per category, tuned so most retail
prices fall between 10 and 100 with rare items under 1 and a few near 1,000.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CategorySpec:
    share: dict  # department -> relative number of products; absent means not sold there
    median_price: float
    price_sigma: float
    nouns_men: tuple[str, ...]
    nouns_women: tuple[str, ...]
    styles: tuple[str, ...]
    fits: tuple[str, ...]
    materials: tuple[str, ...]
    packs: tuple[str, ...] = ()


_KNIT = ("Cotton", "Organic Cotton", "Jersey", "Modal", "Bamboo", "Cotton Blend", "Supima Cotton")
_WOVEN = ("Linen", "Twill", "Poplin", "Chambray", "Denim", "Corduroy", "Wool Blend", "Oxford")
_WARM = ("Wool", "Merino Wool", "Cashmere", "Fleece", "Down", "Quilted", "Sherpa", "Shearling")
_TECH = ("Performance", "Dri-Fit", "Moisture-Wicking", "Quick-Dry", "Stretch", "Compression")
_LACE = ("Lace", "Satin", "Silk", "Microfiber", "Mesh", "Seamless", "Cotton")

CATEGORY_SPECS: dict[str, CategorySpec] = {
    "Accessories": CategorySpec(
        {"Men": 760, "Women": 800}, 22.0, 1.05,
        ("Leather Belt", "Wallet", "Baseball Cap", "Beanie", "Sunglasses", "Tie", "Bow Tie",
         "Watch", "Scarf", "Gloves", "Suspenders", "Fedora Hat", "Money Clip", "Cufflinks", "Backpack"),
        ("Handbag", "Clutch", "Tote Bag", "Sunglasses", "Scarf", "Wide Brim Hat", "Beanie", "Belt",
         "Earrings", "Necklace", "Bracelet", "Gloves", "Wallet", "Hair Clip Set", "Crossbody Bag"),
        ("Classic", "Vintage", "Reversible", "Knit", "Aviator", "Polarized", "Embroidered", "Braided"),
        ("Slim", "Oversized", "Adjustable", "Mini", "Wide"),
        ("Leather", "Genuine Leather", "Canvas", "Silk", "Wool", "Straw", "Stainless Steel", "Suede"),
    ),
    "Active": CategorySpec(
        {"Men": 800, "Women": 680},
        35.0, 0.6,
        ("Training Shorts", "Running Tee", "Track Jacket", "Tank Top", "Joggers", "Compression Tights",
         "Quarter-Zip Pullover", "Tracksuit", "Basketball Shorts", "Gym Hoodie"),
        ("Sports Bra", "Yoga Pants", "Running Shorts", "Racerback Tank", "Track Jacket", "Capri Tights",
         "Workout Top", "Running Jacket", "Tennis Skirt", "Zip Hoodie"),
        ("Essential", "Pro", "Training", "Running", "Yoga", "Outdoor", "Seamless", "Logo"),
        ("Athletic Fit", "Relaxed Fit", "Slim Fit", "Loose Fit", "Fitted"),
        _TECH,
    ),
    "Blazers & Jackets": CategorySpec(
        {"Women": 850}, 85.0, 0.7,
        ("Blazer",),
        ("Blazer", "Boyfriend Blazer", "Cropped Jacket", "Moto Jacket", "Denim Jacket", "Tuxedo Blazer",
         "Utility Jacket", "Bomber Jacket", "Tweed Jacket", "One-Button Blazer"),
        ("Classic", "Double-Breasted", "Ruched Sleeve", "Open Front", "Tailored", "Faux Leather"),
        ("Slim Fit", "Relaxed Fit", "Cropped", "Longline", "Fitted"),
        ("Linen", "Tweed", "Ponte", "Velvet", "Stretch Cotton", "Crepe", "Denim"),
    ),
    "Clothing Sets": CategorySpec(
        {"Women": 85}, 60.0, 0.6,
        ("Two-Piece Set",),
        ("Two-Piece Set", "Crop Top and Skirt Set", "Lounge Set", "Blouse and Pants Set", "Tracksuit Set"),
        ("Matching", "Floral", "Striped", "Ribbed", "Tie-Dye"),
        ("Relaxed Fit", "Fitted", "Oversized"),
        _KNIT,
    ),
    "Dresses": CategorySpec(
        {"Women": 1380}, 70.0, 0.75,
        ("Dress",),
        ("Maxi Dress", "Wrap Dress", "Sheath Dress", "Shift Dress", "Cocktail Dress", "Sundress",
         "Midi Dress", "Shirt Dress", "Bodycon Dress", "A-Line Dress", "Evening Gown", "Slip Dress"),
        ("Sleeveless", "Floral Print", "V-Neck", "Off-the-Shoulder", "Ruffled", "Embroidered", "Halter",
         "Cap Sleeve", "Pleated", "Polka Dot", "Smocked", "Lace Trim"),
        ("Fit and Flare", "Bodycon", "Relaxed", "Empire Waist", "Tiered"),
        ("Chiffon", "Jersey", "Silk", "Satin", "Linen", "Crepe", "Lace", "Velvet"),
    ),
    "Fashion Hoodies & Sweatshirts": CategorySpec(
        {"Men": 990, "Women": 880}, 45.0, 0.6,
        ("Pullover Hoodie", "Full-Zip Hoodie", "Crewneck Sweatshirt", "Graphic Hoodie", "Fleece Pullover"),
        ("Pullover Hoodie", "Cropped Hoodie", "Crewneck Sweatshirt", "Zip-Up Hoodie", "Off-Shoulder Sweatshirt"),
        ("Graphic", "Logo", "Vintage Wash", "Colorblock", "Embroidered", "Tie-Dye", "Heathered", "Sherpa-Lined"),
        ("Relaxed Fit", "Slim Fit", "Oversized", "Boxy", "Classic Fit"),
        ("Fleece", "French Terry", "Cotton Blend", "Organic Cotton", "Thermal"),
    ),
    "Intimates": CategorySpec(
        {"Women": 2360}, 22.0, 0.65,
        ("Bra",),
        ("Push-Up Bra", "Bralette", "Underwire Bra", "Sports Bra", "Hipster Panty", "Thong", "Brief",
         "Boyshort", "Camisole", "Chemise", "Bodysuit", "Strapless Bra", "Shapewear Slip", "Garter Belt"),
        ("Lace Trim", "Wireless", "Padded", "Unlined", "Convertible", "Full Coverage", "Plunge", "No-Show"),
        ("Full Figure", "Demi", "Low Rise", "High Waist", "Smooth"),
        _LACE,
        ("(3-Pack)", "(5-Pack)", "2 Pack"),
    ),
    "Jeans": CategorySpec(
        {"Men": 1100, "Women": 1000}, 70.0, 0.65,
        ("Jean", "Straight Leg Jean", "Bootcut Jean", "Selvedge Jean", "Carpenter Jean", "Relaxed Jean"),
        ("Skinny Jean", "Bootcut Jean", "Boyfriend Jean", "Flare Jean", "Mom Jean", "Straight Jean",
         "Cropped Jean", "Wide Leg Jean", "Jegging"),
        ("505", "511", "Original", "Distressed", "Dark Wash", "Light Wash", "Raw", "Destroyed", "Vintage"),
        ("Slim Fit", "Regular Fit", "Relaxed Fit", "Skinny", "Athletic Fit", "High Rise", "Mid Rise", "Low Rise"),
        ("Stretch Denim", "Rigid Denim", "Selvedge Denim", "Organic Denim", "Power Stretch"),
    ),
    "Jumpsuits & Rompers": CategorySpec(
        {"Women": 160}, 50.0, 0.6,
        ("Jumpsuit",),
        ("Jumpsuit", "Romper", "Playsuit", "Overalls", "Wide Leg Jumpsuit", "Utility Jumpsuit"),
        ("Strapless", "Halter", "Wrap", "Floral", "Belted", "Sleeveless"),
        ("Relaxed Fit", "Fitted", "Wide Leg", "Cropped"),
        ("Linen", "Chambray", "Jersey", "Crepe", "Denim"),
    ),
    "Leggings": CategorySpec(
        {"Women": 490}, 25.0, 0.6,
        ("Leggings",),
        ("Leggings", "Capri Leggings", "Footless Tights", "Printed Leggings", "Faux Leather Leggings",
         "Fleece-Lined Leggings"),
        ("Seamless", "Printed", "Ribbed", "Cropped", "Ankle"),
        ("High Waist", "Mid Rise", "Shaping", "Full Length"),
        ("Cotton Spandex", "Microfiber", "Stretch", "Ponte", "Nylon Spandex"),
    ),
    "Maternity": CategorySpec(
        {"Women": 900}, 38.0, 0.6,
        ("Maternity Top",),
        ("Maternity Dress", "Maternity Jeans", "Nursing Bra", "Maternity Leggings", "Maternity Tunic",
         "Nursing Tank", "Maternity Skinny Jeans", "Maternity Maxi Dress", "Belly Band", "Nursing Cardigan"),
        ("Over-the-Belly", "Under-the-Belly", "Ruched", "Side-Panel", "Wrap", "Short Sleeve"),
        ("Relaxed Fit", "Fitted", "Stretch Fit"),
        _KNIT,
    ),
    "Outerwear & Coats": CategorySpec(
        {"Men": 950, "Women": 620}, 110.0, 0.8,
        ("Parka", "Peacoat", "Down Jacket", "Bomber Jacket", "Rain Jacket", "Trench Coat", "Field Jacket",
         "Puffer Vest", "Leather Jacket", "Softshell Jacket", "Overcoat", "Windbreaker"),
        ("Trench Coat", "Puffer Jacket", "Wrap Coat", "Parka", "Peacoat", "Rain Jacket", "Down Vest",
         "Faux Fur Coat", "Leather Jacket", "Walker Coat", "Anorak", "Cape"),
        ("Hooded", "Water-Resistant", "Insulated", "Packable", "Double-Breasted", "Belted", "Lightweight"),
        ("Classic Fit", "Slim Fit", "Relaxed Fit", "Longline", "Cropped"),
        _WARM + ("Nylon", "Waxed Cotton", "Leather", "Faux Leather", "Gore-Tex"),
    ),
    "Pants": CategorySpec(
        {"Men": 1400}, 48.0, 0.6,
        ("Chino Pants", "Cargo Pants", "Dress Pants", "Khakis", "Flat Front Pants", "Pleated Trousers",
         "Work Pants", "Sweatpants", "Jogger Pants", "Corduroy Pants", "Five-Pocket Pants"),
        ("Pants",),
        ("Flat Front", "Pleated", "Wrinkle-Free", "Stain-Resistant", "Expandable Waist", "Tech"),
        ("Slim Fit", "Classic Fit", "Relaxed Fit", "Straight Fit", "Athletic Fit", "Tapered"),
        ("Stretch", "Cotton Twill", "Corduroy", "Wool Blend", "Linen", "Ripstop"),
    ),
    "Pants & Capris": CategorySpec(
        {"Women": 800}, 40.0, 0.6,
        ("Pants",),
        ("Capri Pants", "Wide Leg Pants", "Cropped Pants", "Palazzo Pants", "Ankle Pants", "Cargo Pants",
         "Trousers", "Culottes", "Paperbag Pants", "Pull-On Pants"),
        ("Pleated", "Pull-On", "Belted", "Tie-Waist", "Printed", "Cuffed"),
        ("Straight Leg", "Slim", "High Rise", "Curvy Fit", "Relaxed"),
        ("Linen", "Crepe", "Ponte", "Stretch Cotton", "Twill"),
    ),
    "Plus": CategorySpec(
        {"Women": 850}, 38.0, 0.65,
        ("Top",),
        ("Plus Size Tunic", "Plus Size Jeans", "Plus Size Maxi Dress", "Plus Size Blouse", "Plus Size Cardigan",
         "Plus Size Leggings", "Plus Size Wrap Dress", "Plus Size Tank", "Plus Size Bra", "Plus Size Pants"),
        ("Floral", "Ruched", "Embellished", "Cold Shoulder", "Empire Waist", "Peplum"),
        ("Relaxed Fit", "Curvy Fit", "Stretch Fit", "Slimming"),
        _KNIT + ("Chiffon", "Crepe"),
    ),
    "Shorts": CategorySpec(
        {"Men": 1000, "Women": 830}, 32.0, 0.55,
        ("Cargo Shorts", "Chino Shorts", "Board Shorts", "Denim Shorts", "Flat Front Shorts",
         "Athletic Shorts", "Hybrid Shorts", "Sweat Shorts"),
        ("Denim Shorts", "Bermuda Shorts", "Cutoff Shorts", "High-Waisted Shorts", "Bike Shorts",
         "Linen Shorts", "Paperbag Shorts", "Chino Shorts"),
        ("7 Inch", "9 Inch", "5 Inch", "Distressed", "Rolled Cuff", "Drawstring"),
        ("Classic Fit", "Slim Fit", "Relaxed Fit", "Mid Rise", "High Rise"),
        ("Stretch Twill", "Denim", "Linen", "Ripstop", "French Terry", "Seersucker"),
    ),
    "Skirts": CategorySpec(
        {"Women": 430}, 40.0, 0.65,
        ("Skirt",),
        ("Pencil Skirt", "A-Line Skirt", "Maxi Skirt", "Mini Skirt", "Pleated Skirt", "Midi Skirt",
         "Wrap Skirt", "Denim Skirt", "Tulle Skirt"),
        ("Floral", "Plaid", "Button-Front", "Tiered", "Asymmetric", "Accordion"),
        ("High Waist", "Stretch", "Flared", "Fitted"),
        ("Denim", "Faux Leather", "Chiffon", "Wool Blend", "Cotton", "Satin"),
    ),
    "Sleep & Lounge": CategorySpec(
        {"Men": 900, "Women": 880}, 32.0, 0.6,
        ("Pajama Set", "Lounge Pants", "Robe", "Sleep Shorts", "Thermal Top", "Pajama Pants", "Union Suit"),
        ("Pajama Set", "Nightgown", "Robe", "Sleep Shirt", "Lounge Pants", "Chemise", "Sleep Shorts Set",
         "Kimono Robe"),
        ("Plaid", "Printed", "Henley", "Button-Front", "Drawstring", "Long Sleeve", "Short Sleeve"),
        ("Relaxed Fit", "Classic Fit", "Loose Fit"),
        ("Flannel", "Cotton", "Modal", "Fleece", "Satin", "Waffle Knit", "Plush"),
    ),
    "Socks": CategorySpec(
        {"Men": 1150}, 12.0, 0.6,
        ("Crew Socks", "Dress Socks", "Athletic Socks", "No-Show Socks", "Ankle Socks", "Boot Socks",
         "Quarter Socks", "Hiking Socks", "Argyle Socks"),
        ("Socks",),
        ("Cushioned", "Striped", "Argyle", "Patterned", "Arch Support", "Low Cut"),
        ("Over-the-Calf", "Mid-Calf", "Classic"),
        ("Merino Wool", "Cotton", "Bamboo", "Wool Blend", "Moisture-Wicking"),
        ("(3-Pack)", "(6-Pack)", "12 Pack", "3 Pair"),
    ),
    "Socks & Hosiery": CategorySpec(
        {"Women": 580}, 13.0, 0.6,
        ("Socks",),
        ("Tights", "Pantyhose", "Knee High Socks", "Thigh High Stockings", "No-Show Socks", "Fishnet Tights",
         "Crew Socks", "Ankle Socks", "Trouser Socks", "Leg Warmers"),
        ("Sheer", "Opaque", "Patterned", "Control Top", "Ribbed", "Cable Knit"),
        ("Classic", "Run-Resistant", "Footless"),
        ("Nylon", "Cotton", "Wool Blend", "Microfiber", "Cashmere Blend"),
        ("(3-Pack)", "(6-Pack)", "2 Pair"),
    ),
    "Suits": CategorySpec(
        {"Women": 190}, 95.0, 0.7,
        ("Suit",),
        ("Pant Suit", "Skirt Suit", "Two-Piece Suit", "Tuxedo Suit", "Jacket and Pant Set"),
        ("Classic", "Pinstripe", "Tailored", "Single-Button", "Double-Breasted"),
        ("Slim Fit", "Classic Fit", "Modern Fit"),
        ("Wool Blend", "Crepe", "Stretch", "Linen"),
    ),
    "Suits & Sport Coats": CategorySpec(
        {"Men": 750}, 150.0, 0.8,
        ("Two-Button Suit", "Sport Coat", "Tuxedo", "Three-Piece Suit", "Blazer", "Suit Separate Jacket",
         "Suit Separate Pant", "Vest", "Dinner Jacket"),
        ("Suit",),
        ("Classic", "Pinstripe", "Windowpane", "Herringbone", "Notch Lapel", "Peak Lapel", "Plaid"),
        ("Slim Fit", "Modern Fit", "Classic Fit", "Trim Fit", "Big & Tall"),
        ("Wool", "Super 120s Wool", "Tweed", "Linen", "Cotton Blend", "Velvet"),
    ),
    "Sweaters": CategorySpec(
        {"Men": 750, "Women": 900}, 60.0, 0.75,
        ("Crewneck Sweater", "V-Neck Sweater", "Cardigan", "Quarter-Zip Sweater", "Cable Knit Sweater",
         "Shawl Collar Cardigan", "Turtleneck Sweater", "Sweater Vest"),
        ("Cardigan", "Turtleneck Sweater", "Pullover Sweater", "Cable Knit Sweater", "Cropped Sweater",
         "Wrap Cardigan", "Sweater Vest", "Tunic Sweater", "Off-Shoulder Sweater"),
        ("Cable Knit", "Ribbed", "Fair Isle", "Chunky", "Lightweight", "Button-Front", "Open Front"),
        ("Classic Fit", "Slim Fit", "Oversized", "Relaxed Fit", "Cropped"),
        ("Merino Wool", "Cashmere", "Cotton", "Lambswool", "Alpaca Blend", "Acrylic"),
    ),
    "Swim": CategorySpec(
        {"Men": 900, "Women": 950}, 40.0, 0.6,
        ("Swim Trunks", "Board Shorts", "Swim Brief", "Rash Guard", "Volley Shorts", "Swim Jammer"),
        ("Bikini Top", "Bikini Bottom", "One-Piece Swimsuit", "Tankini", "Swim Dress", "Cover-Up",
         "Monokini", "Rash Guard", "High-Waisted Bikini Set"),
        ("Printed", "Solid", "Tropical", "Striped", "Ruched", "Halter", "Bandeau", "Triangle"),
        ("Classic", "Quick-Dry", "Full Coverage", "Cheeky", "Athletic"),
        ("Nylon", "Recycled Nylon", "Polyester", "Spandex", "Chlorine-Resistant"),
    ),
    "Tops & Tees": CategorySpec(
        {"Men": 950, "Women": 920}, 28.0, 0.6,
        ("Crew Neck Tee", "V-Neck T-Shirt", "Polo Shirt", "Henley", "Graphic Tee", "Oxford Shirt",
         "Button-Down Shirt", "Long Sleeve Tee", "Tank Top", "Pocket Tee", "Flannel Shirt"),
        ("Blouse", "Tank Top", "Camisole", "Crop Top", "V-Neck Tee", "Tunic", "Peasant Top", "Graphic Tee",
         "Button-Down Shirt", "Wrap Top", "Bodysuit", "Long Sleeve Tee"),
        ("Graphic", "Striped", "Solid", "Short Sleeve", "Long Sleeve", "Sleeveless", "Pocket", "Ringer",
         "Floral", "Embroidered"),
        ("Slim Fit", "Classic Fit", "Relaxed Fit", "Regular Fit", "Oversized", "Fitted"),
        _KNIT + _WOVEN[:4],
        ("(2-Pack)", "(3-Pack)"),
    ),
    "Underwear": CategorySpec(
        {"Men": 950}, 20.0, 0.55,
        ("Boxer Briefs", "Boxers", "Briefs", "Trunks", "Undershirt", "Long Johns", "Jockstrap",
         "Low Rise Trunks", "A-Shirt"),
        ("Briefs",),
        ("Classic", "Essential", "Stretch", "Tagless", "Contour Pouch", "Logo Waistband"),
        ("Slim Fit", "Regular Fit", "Low Rise", "Mid Rise"),
        ("Cotton", "Cotton Stretch", "Micro Modal", "Microfiber", "Mesh", "Bamboo"),
        ("(3-Pack)", "(4-Pack)", "(5-Pack)", "2 Pack"),
    ),
}

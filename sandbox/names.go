package sandbox

// Word lists the generator draws from. Order matters: the generator indexes
// them, so changing a list changes every dataset (the determinism test's
// golden hash says so).

// thaiFirst are Thai given names, with a romanisation used for emails.
var thaiFirst = []struct{ thai, latin string }{
	{"สมชาย", "somchai"}, {"สมศรี", "somsri"}, {"วิชัย", "wichai"}, {"สุดา", "suda"},
	{"ประเสริฐ", "prasert"}, {"มาลี", "malee"}, {"ธนากร", "thanakorn"}, {"กาญจนา", "kanchana"},
	{"ณัฐพล", "nattapon"}, {"พิมพ์ชนก", "pimchanok"}, {"อนุชา", "anucha"}, {"ปวีณา", "paweena"},
	{"กิตติ", "kitti"}, {"รัตนา", "rattana"}, {"ศุภชัย", "supachai"}, {"วรรณา", "wanna"},
	{"ชัยวัฒน์", "chaiwat"}, {"นภา", "napa"}, {"สุรเชษฐ์", "surachet"}, {"อรุณี", "arunee"},
	{"ธีรวัฒน์", "teerawat"}, {"จิราพร", "jiraporn"}, {"พงศกร", "pongsakorn"}, {"ศิริพร", "siriporn"},
	{"เกียรติศักดิ์", "kiattisak"}, {"ชนิดา", "chanida"}, {"ภานุวัฒน์", "panuwat"}, {"ณัฐธิดา", "nattida"},
	{"วีระ", "weera"}, {"สุนิสา", "sunisa"}, {"อภิชาติ", "apichart"}, {"ปิยะนุช", "piyanuch"},
}

// thaiLast are Thai family names, with a romanisation.
var thaiLast = []struct{ thai, latin string }{
	{"ใจดี", "jaidee"}, {"ศรีสุข", "srisuk"}, {"รุ่งเรือง", "rungruang"}, {"แก้วมณี", "kaewmanee"},
	{"สุขสวัสดิ์", "suksawat"}, {"บุญมา", "boonma"}, {"ทองดี", "thongdee"}, {"วงศ์สวัสดิ์", "wongsawat"},
	{"พูลสวัสดิ์", "poonsawat"}, {"ศรีวงศ์", "sriwong"}, {"จันทร์เพ็ญ", "chanpen"}, {"มีสุข", "meesuk"},
	{"เจริญผล", "charoenphon"}, {"ประสงค์ดี", "prasongdee"}, {"อินทร์แก้ว", "inkaew"}, {"สายทอง", "saithong"},
	{"ชัยมงคล", "chaimongkol"}, {"นาคสวัสดิ์", "naksawat"}, {"ธรรมรักษ์", "thammarak"}, {"เพชรรัตน์", "petcharat"},
}

// latinFirst and latinLast are names as people type them in English.
var latinFirst = []string{
	"Mary", "John", "Anna", "Peter", "Nok", "Ploy", "Mint", "Beam", "Fern", "Bank", "Ice", "Gift",
	"Nan", "Pim", "Tom", "Joy", "Ken", "May", "Bee", "Aom", "Film", "Golf", "Praew", "Tee",
}
var latinLast = []string{
	"Smith", "Chen", "Wong", "Tan", "Jaidee", "Srisuk", "Lee", "Kim", "Nguyen", "Sato", "Brown", "Garcia",
}

// nicknames are Thai nicknames people use as LINE and Facebook display names.
// The first is one of the seed examples.
var nicknames = []string{
	"ปักเป้า", "น้องมิ้นท์ 💕", "พี่ตูน", "แม่ค้าออนไลน์", "ป้าแดง ร้านข้าวแกง", "เจ๊หมวย",
	"น้ำหวาน 🍯", "ต้นข้าว", "ครูเอ๋", "หมูอ้วน 🐷", "บีม ☀️", "แพรวา", "ฟ้าใส", "ออม สายบุญ",
}

// fancyNames are display names in decorative Unicode, emoji and combining
// marks, the kind that breaks byte-counting code. The first is the issue's
// other seed example.
var fancyNames = []string{
	"˚♡̴ 𝒇𝒂𝒏𝒈", "🌸 Mint 🌸", "ᴘᴀɪ ☁️", "𝓝𝓸𝓷𝓰 𝓑𝓮𝓪𝓶", "ʕ•ᴥ•ʔ Bear", "💖ไข่มุก💖",
	"👨‍👩‍👧 ครอบครัวสุขสันต์", "🇹🇭 Thai Pride 🇹🇭", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "ｆｕｌｌ　ｗｉｄｔｈ", "🐡 ปักเป้า 🐡",
	"ℳ𝒶𝓎 ♪", "★彡 Nam 彡★", "(｡♥‿♥｡) Fon",
}

// longNameBase is repeated to make display names longer than Oho's 255
// (display_name) and 100 (first_name) characters.
const longNameBase = "ร้านขายส่งเสื้อผ้าแฟชั่นเกาหลีราคาถูกประตูน้ำ 👗✨ สาขาใหม่ "

// tagNames is the tag vocabulary, Thai and English, in priority-free order.
var tagNames = []string{
	"VIP", "ลูกค้าใหม่", "ลูกค้าประจำ", "ติดตามสินค้า", "ติดตามการชำระเงิน", "สนใจโปรโมชั่น", "ส่งแล้ว",
	"รอชำระเงิน", "COD", "Lazada", "Shopee", "TikTok Shop", "Facebook Ads", "ขายส่ง", "ขอใบกำกับภาษี",
	"returning", "complaint", "ตีกลับ", "ของขวัญ", "ไซส์ใหญ่", "สีดำ", "สมาชิกบัตรทอง", "Flash Sale 11.11",
	"วันเกิดเดือนนี้", "ลูกค้าต่างจังหวัด", "กรุงเทพฯ", "ต่างประเทศ", "ถามราคา", "รีวิวแล้ว", "แจกคูปอง",
	"blacklist", "ติดต่อไม่ได้", "abandoned cart", "รอตอบกลับ", "ลูกค้าองค์กร", "ＶＩＰ", "vip",
	"ลูกค้า LINE", "ลูกค้าเก่า", "โอนแล้ว",
}

// taggingSources are the documented tagging-log sources; "Bot" is spelt as
// the vendor's own example spells it.
var taggingSources = []string{
	"bot", "manual", "broadcast", "keyword_auto_reply", "open_api", "journey", "line_rich_menu",
	"import", "coupon", "Bot", "cross_channel_connector", "phone_binding",
}

// agents are the shop's chat agents.
var agents = []struct{ id, name string }{
	{"agent-01", "แอดมินเมย์"}, {"agent-02", "แอดมินบอส"}, {"agent-03", "Admin Joy"}, {"agent-04", "พี่นุ่น (หัวหน้าทีม)"},
}

// customerTexts are what customers write.
var customerTexts = []string{
	"สวัสดีค่ะ สินค้านี้ยังมีไหมคะ", "ราคาเท่าไหร่ครับ", "ส่งกี่วันถึงคะ", "โอนแล้วนะคะ 🙏", "ขอไซส์ L สีดำค่ะ",
	"มีโปรไหมครับ", "Hi, do you ship to Singapore?", "ของถึงแล้ว ขอบคุณมากค่ะ ❤️", "ขอเลขพัสดุด้วยครับ",
	"เปลี่ยนไซส์ได้ไหมคะ", "😍😍😍", "ok", "ขอใบกำกับภาษีด้วยค่ะ", "ยังไม่ได้รับของเลยครับ", "สั่ง 2 ชิ้นค่ะ",
}

// agentTexts are what agents write.
var agentTexts = []string{
	"สวัสดีค่ะ ยินดีให้บริการค่ะ", "มีสินค้าค่ะ สนใจสีไหนคะ", "ราคา 590 บาทค่ะ ส่งฟรีค่ะ", "ได้รับยอดโอนแล้วค่ะ ขอบคุณค่ะ",
	"เลขพัสดุ TH0123456789 ค่ะ", "ขออภัยในความไม่สะดวกค่ะ", "Yes, we ship worldwide 🌏", "รบกวนแจ้งที่อยู่จัดส่งด้วยค่ะ",
}

// botTexts are chatbot and AI replies.
var botTexts = []string{
	"ขอบคุณที่ทักมานะคะ แอดมินจะตอบกลับโดยเร็วที่สุดค่ะ", "เลือกเมนูด้านล่างได้เลยค่ะ 👇", "เวลาทำการ 9:00–18:00 น. ค่ะ",
	"สินค้าแนะนำวันนี้ ลด 20%", "คุณสามารถติดตามพัสดุได้ที่ลิงก์นี้ค่ะ",
}

// provinces are province values as customers and agents type them.
var provinces = []string{"กรุงเทพมหานคร", "Bangkok", "กทม", "เชียงใหม่", "Chiang Mai", "ขอนแก่น", "ภูเก็ต", "ชลบุรี", "นนทบุรี", "สงขลา"}

// genders are gender values as they appear in Omnichat attributes.
var genders = []string{"ชาย", "หญิง", "M", "F", "female", "male", "ไม่ระบุ", "other", "นางสาว"}

// customerGroups are values of the customer_group attribute.
var customerGroups = []string{"Gold", "Silver", "Bronze", "ลูกค้าส่ง", "ลูกค้าปลีก"}

// products are values of the favorite_product attribute.
var products = []string{"เสื้อยืด oversize", "กางเกงยีนส์", "กระเป๋าผ้า", "หมวกบักเก็ต", "รองเท้าผ้าใบ", "ชุดเดรส"}

// surveyName is an attribute display name longer than Oho's 100-character
// limit on attributes[].display_name.
const surveyName = "คุณรู้จักร้านของเราจากช่องทางใด (เช่น Facebook, Instagram, TikTok, เพื่อนแนะนำ, ป้ายโฆษณา หรืออื่น ๆ) โปรดระบุให้ละเอียดที่สุดเท่าที่จะทำได้"

// surveyAnswer is repeated into long survey answers (Omnichat allows 1,000).
const surveyAnswer = "เห็นโฆษณาใน Facebook แล้วเพื่อนที่ทำงานก็แนะนำต่อ ชอบที่ส่งไวและแพ็คของดีมาก 📦 "

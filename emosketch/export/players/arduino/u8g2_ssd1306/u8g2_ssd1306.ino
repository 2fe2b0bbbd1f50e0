// emosketch: play a pack's emotion loops on a 128x64 SSD1306 (I2C, address 0x3C) with u8g2.
//
// 1. emosketch pack --input me.jpg --out pack     (any folder: the header is pack.h unless --name says otherwise)
// 2. Copy pack/pack.h, pack/emosketch_player.h and pack/emosketch_player.c into this sketch's folder.
// 3. Upload. The face cycles through the pack's emotions, one every 4 seconds.
//
// u8g2's full-buffer (_F_) SSD1306 constructors keep the screen in the pack's ssd1306 page layout,
// so frames are decoded straight into u8g2.getBufferPtr() and sent with sendBuffer().
// For an SH1106 module keep the default ssd1306 pack and use U8G2_SH1106_128X64_NONAME_F_HW_I2C: its buffer is
// the same 128-column page layout, and u8g2 adds the SH1106's 2-column offset itself.
#include <Arduino.h>
#include <U8g2lib.h>
#include <Wire.h>
#include "emosketch_player.h"
#include "pack.h"

// The player decodes PACK_FRAME_BYTES into the display library's own 1 KB buffer, so a pack of another size
// or format would write past it: such a pack is refused here, when the sketch is compiled.
#if !defined(PACK_FORMAT_SSD1306) || PACK_WIDTH != 128u || PACK_HEIGHT != 64u || PACK_FRAME_BYTES != 1024u
#error "this example plays 128x64 ssd1306 packs (emosketch pack's default size and --format ssd1306)"
#endif

U8G2_SSD1306_128X64_NONAME_F_HW_I2C u8g2(U8G2_R0, U8X8_PIN_NONE);
es_player player;
uint32_t lastChange = 0;

void setup() {
  u8g2.setI2CAddress(0x3C * 2);  // u8g2 takes the 8-bit address
  u8g2.begin();
  u8g2.setBusClock(400000);
  if (es_player_init(&player, &pack_pack, u8g2.getBufferPtr(), 0) != ES_OK) {
    for (;;) {}  // pack.h is damaged or from an older emosketch: export it again
  }
}

void loop() {
  uint32_t now = millis();
  if (PACK_EMOTION_COUNT > 1 && now - lastChange > 4000) {
    lastChange = now;
    es_player_request(&player, (uint8_t)((es_player_emotion(&player) + 1) % PACK_EMOTION_COUNT));
  }
  if (es_player_update(&player, now)) {
    u8g2.sendBuffer();
  }
}

// emosketch: play a TFT pack with Adafruit_GFX on an ST7789 (240x240 or 135x240, Adafruit_ST7789)
// or an ILI9341 (320x240 landscape, Adafruit_ILI9341).
//
// 1. emosketch pack --input me.jpg --tft st7789-240x240 --ink yellow --paper black --out pack
//    (--tft st7789-135x240 for the 1.14" panels, --tft ili9341-320x240 for the 2.4"/2.8" ones)
// 2. Copy pack/pack_tft.h, pack/emosketch_tft.h and pack/emosketch_tft.c into this sketch's folder.
// 3. Set EMOSKETCH_ILI9341 and the pins below, and upload (an ESP32, RP2040 or SAMD board: the
//    pack lives in flash).
//
// The face moves to a new emotion every 4 seconds, through the pack's transitions; only the
// pixels that change are drawn, with no frame buffer.
#ifndef EMOSKETCH_ILI9341
#define EMOSKETCH_ILI9341 0  // 1: an ILI9341 panel; 0: an ST7789
#endif
#include <Adafruit_GFX.h>
#include <SPI.h>
#if EMOSKETCH_ILI9341
#include <Adafruit_ILI9341.h>
#else
#include <Adafruit_ST7789.h>
#endif
#include "emosketch_tft.h"
#include "pack_tft.h"

#define TFT_CS 5
#define TFT_DC 16
#define TFT_RST 23

#if EMOSKETCH_ILI9341
Adafruit_ILI9341 tft = Adafruit_ILI9341(TFT_CS, TFT_DC, TFT_RST);
#else
Adafruit_ST7789 tft = Adafruit_ST7789(TFT_CS, TFT_DC, TFT_RST);
#endif
es_tft_player player;
uint32_t lastChange = 0;

static void span(void *ctx, uint16_t x, uint16_t y, uint16_t n, const uint8_t *words, uint16_t colour) {
  (void)ctx;
  if (words == 0) {
    tft.writeFastHLine(x, y, n, colour);
    return;
  }
  for (uint16_t i = 0; i < n; i++) {
    tft.writePixel(x + i, y, (uint16_t)(words[2 * i] | (words[2 * i + 1] << 8)));
  }
}

void setup() {
#if EMOSKETCH_ILI9341
  tft.begin();
  tft.setRotation(1);  // landscape: 320 wide, 240 high
#else
  tft.init(pack_tft_pack.width, pack_tft_pack.height);
#endif
  tft.fillScreen(pack_tft_pack.paper);
  if (es_tft_player_init(&player, &pack_tft_pack, 0) != ES_TFT_OK) {
    for (;;) {}  // pack_tft.h is damaged or from an older emosketch: export it again
  }
}

void loop() {
  uint32_t now = millis();
  if (PACK_EMOTION_COUNT > 1 && now - lastChange > 4000) {  // a new emotion every 4 seconds
    lastChange = now;
    es_tft_player_request(&player, (uint8_t)((es_tft_player_emotion(&player) + 1) % PACK_EMOTION_COUNT));
  }
  tft.startWrite();
  es_tft_player_update(&player, now, span, 0);
  tft.endWrite();
}

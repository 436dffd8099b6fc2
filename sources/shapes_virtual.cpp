#include <iostream>
#include <memory>
#include <string>
#include <vector>

class Shape {
public:
    virtual ~Shape() = default;
    virtual int area() const = 0;
    virtual std::string name() const = 0;
};

class Rectangle : public Shape {
public:
    Rectangle(int w, int h) : width_(w), height_(h) {}
    int area() const override { return width_ * height_; }
    std::string name() const override { return "Rectangle"; }

private:
    int width_;
    int height_;
};

class Square : public Rectangle {
public:
    explicit Square(int side) : Rectangle(side, side) {}
    std::string name() const override { return "Square"; }
};

class Triangle : public Shape {
public:
    Triangle(int base, int height) : base_(base), height_(height) {}
    int area() const override { return base_ * height_ / 2; }
    std::string name() const override { return "Triangle"; }

private:
    int base_;
    int height_;
};

int main() {
    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.push_back(std::make_unique<Rectangle>(4, 5));
    shapes.push_back(std::make_unique<Square>(3));
    shapes.push_back(std::make_unique<Triangle>(6, 4));
    int total = 0;
    for (const auto& shape : shapes) {
        std::cout << shape->name() << " area: " << shape->area() << std::endl;
        total += shape->area();
    }
    std::cout << "Total area: " << total << std::endl;
    return 0;
}
